using System.Collections.Immutable;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// The backends of one service port on this node: the cluster set (ordinals [0, n)) and the node-local set
/// (ordinals <see cref="NatFrontendValue.LocalOrdinalBase"/> + [0, m)), chosen by <see cref="EndpointSelection"/>
/// with kube-proxy's rules (traffic policies, terminating fallback, topology hints), and which set each kind of
/// traffic uses. The common case (policies Cluster, every endpoint ready, no hints) takes a short path with the same
/// result and without the selection's allocations: it runs for every Service on every full rebuild.
/// </summary>
public sealed class BackendSets
{
    private readonly List<EndpointCandidate> _candidates = [];
    private readonly Dictionary<(System.Net.IPAddress, int), int> _seen = [];

    /// <summary>The cluster set, distinct, in address order (as <see cref="BackendOrdinals.Place"/> takes them).</summary>
    public List<NatBackendValue4> Cluster { get; } = [];

    /// <summary>The local set, distinct, in address order.</summary>
    public List<NatBackendValue4> Local { get; } = [];

    /// <summary>Internal traffic (pods, host) to the ClusterIP uses the local set (iTP=Local).</summary>
    public bool InternalLocal { get; private set; }

    /// <summary>External traffic to NodePort, LoadBalancer and external IPs uses the local set (eTP=Local).</summary>
    public bool ExternalLocal { get; private set; }

    /// <summary>The selection's explanation of each set (empty on the short path: every ready endpoint, no policy).</summary>
    public IReadOnlyList<string> Explanations { get; private set; } = [];

    /// <summary>Fills the sets for <paramref name="port"/> of <paramref name="service"/> from its IPv4 slices.</summary>
    public void Select(Service service, ServicePort port, ImmutableArray<EndpointSlice> slices, NodeContext node)
    {
        Cluster.Clear();
        Local.Clear();
        InternalLocal = ExternalLocal = false;
        Explanations = [];
        _candidates.Clear();
        _seen.Clear();
        var simple = service.InternalTrafficPolicy == TrafficPolicy.Cluster && !EndpointSelection.ExternalPolicyLocal(service);
        foreach (var slice in slices)
        {
            if (slice.AddressType != AddressType.IPv4)
                continue;
            var targetPort = port.TargetPort.Number ?? NamedPort(slice, port);
            if (targetPort is null)
                continue;
            foreach (var endpoint in slice.Endpoints)
            {
                if (endpoint.Addresses.Count == 0)
                    continue;
                var candidate = EndpointCandidate.From(endpoint, targetPort.Value);
                // One backend per address and port; listed twice (two slices, e.g. during a slice move), the ready
                // listing counts: a backend serves when any of its listings says it is ready.
                if (_seen.TryGetValue((candidate.Address, candidate.Port), out var at))
                {
                    if (!_candidates[at].Ready && candidate.Ready)
                        _candidates[at] = candidate;
                    continue;
                }
                _seen[(candidate.Address, candidate.Port)] = _candidates.Count;
                _candidates.Add(candidate);
            }
        }
        foreach (var candidate in _candidates)
            simple &= candidate.Ready && candidate.Hints is null;
        if (simple)
        {
            foreach (var candidate in _candidates)
                Cluster.Add(new NatBackendValue4(candidate.Address, (ushort)candidate.Port));
            BackendOrdinals.SortDistinct(Cluster);
            return;
        }

        var selection = EndpointSelection.Select(service, port, _candidates, node);
        Explanations = selection.Explanations().ToList();
        if (selection.Cluster is { } cluster)
            foreach (var candidate in cluster.Endpoints)
                Cluster.Add(new NatBackendValue4(candidate.Address, (ushort)candidate.Port));
        if (selection.Local is { } local)
            foreach (var candidate in local.Endpoints)
                Local.Add(new NatBackendValue4(candidate.Address, (ushort)candidate.Port));
        BackendOrdinals.SortDistinct(Cluster);
        BackendOrdinals.SortDistinct(Local);
        // A Service without any usable endpoint is rejected (both counts 0, no Local flag); with endpoints only
        // elsewhere, traffic under a Local policy finds an empty local set and is dropped, as kube-proxy does.
        if (selection.HasAnyEndpoints)
        {
            InternalLocal = selection.InternalTraffic == EndpointSetKind.Local;
            ExternalLocal = selection.ExternalTraffic == EndpointSetKind.Local;
        }
    }

    /// <summary>The flags a frontend of <paramref name="kind"/> takes from the sets: iTP on ClusterIPs, eTP on the external kinds.</summary>
    public FrontendFlags FlagsFor(FrontendKind kind) => kind == FrontendKind.ClusterIP
        ? (InternalLocal ? FrontendFlags.InternalLocal : FrontendFlags.None)
        : (ExternalLocal ? FrontendFlags.ExternalLocal : FrontendFlags.None);

    /// <summary>The number of the slice's port that carries the Service port's name and protocol, if any.</summary>
    internal static int? NamedPort(EndpointSlice slice, ServicePort port)
    {
        foreach (var slicePort in slice.Ports)
            if (slicePort.Name == port.Name && slicePort.Protocol == port.Protocol && slicePort.Port is not null)
                return slicePort.Port;
        return null;
    }
}
