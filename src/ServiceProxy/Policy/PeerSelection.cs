using System.Net.Sockets;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Policy;

/// <summary>
/// The pods that can be peers (with an IPv4 address, not host network, not terminated), by namespace, and the
/// namespaces' labels: what a selector peer resolves against. Built once per compile.
/// </summary>
internal sealed class PeerSelection
{
    private readonly Dictionary<string, List<(Pod Pod, uint Address)>> _podsByNamespace = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Labels> _namespaceLabels = new(StringComparer.Ordinal);

    public PeerSelection(IEnumerable<Pod> pods, IEnumerable<PodNamespace> namespaces)
    {
        foreach (var ns in namespaces)
            _namespaceLabels[ns.Name] = ns.Labels;
        foreach (var pod in pods.OrderBy(pod => pod.Key))
        {
            if (!pod.TakesPart || FirstIpv4(pod) is not { } address)
                continue;
            if (!_podsByNamespace.TryGetValue(pod.Key.Namespace, out var list))
                _podsByNamespace[pod.Key.Namespace] = list = [];
            list.Add((pod, address));
        }
        foreach (var name in _podsByNamespace.Keys)
            _namespaceLabels.TryAdd(name, PodNamespace.Implicit(name).Labels);
        Namespaces = _namespaceLabels.Keys.Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>Every namespace name (with a Namespace object or with pods), sorted.</summary>
    public IReadOnlyList<string> Namespaces { get; }

    /// <summary>The IPv4 address policy applies to: the first IPv4 pod IP (IPv6 is not enforced yet).</summary>
    public static uint? FirstIpv4(Pod pod)
    {
        foreach (var ip in pod.Ips)
            if (ip.AddressFamily == AddressFamily.InterNetwork)
                return Prefix4.ToUInt(ip);
        return null;
    }

    /// <summary>The pods a selector peer of a policy in <paramref name="policyNamespace"/> selects, in key order.</summary>
    public IEnumerable<(Pod Pod, uint Address)> Select(SelectorPeer peer, string policyNamespace)
    {
        IEnumerable<string> namespaces = peer.Namespaces is null
            ? [policyNamespace]
            : Namespaces.Where(name => peer.Namespaces.Matches(_namespaceLabels[name]));
        foreach (var name in namespaces)
        {
            if (!_podsByNamespace.TryGetValue(name, out var pods))
                continue;
            foreach (var entry in pods)
                if (peer.Pods is null || peer.Pods.Matches(entry.Pod.Labels))
                    yield return entry;
        }
    }

    /// <summary>Every peer pod of the cluster (a rule without peers, for a named port in egress).</summary>
    public IEnumerable<(Pod Pod, uint Address)> All() =>
        Namespaces.Where(_podsByNamespace.ContainsKey).SelectMany(name => _podsByNamespace[name]);
}
