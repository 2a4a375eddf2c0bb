using System.Net;
using System.Text;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Maps;

namespace ProxyReplacement.E2E.Tests.Policy;

/// <summary>
/// Which pods a case's policies isolate, per direction, written by hand next to the case (a pod is isolated for ingress
/// when some policy of its namespace selects it with Ingress in its policyTypes; the same for egress). It is the
/// deterministic "programmed" signal of the truth table: the shared map contract (pr_map_abi.h, "NetworkPolicy") gives an
/// isolated pod of a node an entry in that node's <c>pr_pol_ep4</c>, with a non-zero set id per isolated direction, and
/// the writer fills a set's port and peer entries before it points an endpoint at the set. So once every node's
/// <c>pr_pol_ep4</c> shows exactly the case's isolation, having started from an empty map, the case is enforced.
/// </summary>
internal sealed record PolicyIsolation(IReadOnlySet<string> Ingress, IReadOnlySet<string> Egress)
{
    public static readonly PolicyIsolation None = new(new HashSet<string>(), new HashSet<string>());

    /// <param name="ingress">Pod ids (<c>x/a</c>) isolated for ingress.</param>
    /// <param name="egress">Pod ids isolated for egress.</param>
    public static PolicyIsolation Of(string[]? ingress = null, string[]? egress = null) =>
        new(new HashSet<string>(ingress ?? []), new HashSet<string>(egress ?? []));

    /// <summary>Every pod of namespace <paramref name="ns"/>.</summary>
    public static string[] All(string ns) => [.. PolicyPod.Names.Select(name => $"{ns}/{name}")];

    /// <summary>What a node's <c>pr_pol_ep4</c> must hold: its pods isolated in at least one direction, and which.</summary>
    public IReadOnlyDictionary<IPAddress, (bool Ingress, bool Egress)> ExpectedEntries(IEnumerable<PolicyPod> podsOfNode) =>
        // every pod of the node has an entry (the module tracks them all), isolated or not
        podsOfNode.ToDictionary(pod => pod.Address, pod => (Ingress.Contains(pod.Id), Egress.Contains(pod.Id)));

    public override string ToString() =>
        $"ingress isolated: [{string.Join(", ", Ingress.Order(StringComparer.Ordinal))}], egress isolated: [{string.Join(", ", Egress.Order(StringComparer.Ordinal))}]";
}

/// <summary>The policy maps a node's daemon pinned, read from the outside (each read opens and closes the pins).</summary>
internal static class PinnedPolicyMaps
{
    /// <summary>
    /// The isolation <c>pr_pol_ep4</c> shows: each address with an entry, and in which directions its set is not 0 (an
    /// entry with both sets 0 is a pod tracked but not isolated). Null when the map is not pinned (yet).
    /// </summary>
    public static IReadOnlyDictionary<IPAddress, (bool Ingress, bool Egress)>? Isolation(string pinRoot)
    {
        var path = PinRoot.PathOf(pinRoot, CoreObjectNames.PolicyEndpoints);
        if (!File.Exists(path))
            return null;
        using var endpoints = BpfMap<PolicyEndpointKey4, PolicyEndpoint>.OpenPinned(path);
        return endpoints.ReadAll()
            .ToDictionary(entry => entry.Key.Address, entry => (entry.Value.IngressSet != 0, entry.Value.EgressSet != 0));
    }

    /// <summary>Every entry of the three policy maps, addresses named after their pods: what a failing case prints.</summary>
    public static string Describe(string pinRoot, Func<IPAddress, string> name)
    {
        var text = new StringBuilder();
        try
        {
            using var endpoints = BpfMap<PolicyEndpointKey4, PolicyEndpoint>.OpenPinned(PinRoot.PathOf(pinRoot, CoreObjectNames.PolicyEndpoints));
            using var ports = BpfMap<PolicyPortKey, PolicyPortValue>.OpenPinned(PinRoot.PathOf(pinRoot, CoreObjectNames.PolicyPorts));
            using var peers = BpfMap<PolicyPeerKey4, PolicyPeerValue>.OpenPinned(PinRoot.PathOf(pinRoot, CoreObjectNames.PolicyPeers));
            var endpointEntries = endpoints.ReadAll();
            var portEntries = ports.ReadAll();
            var peerEntries = peers.ReadAll();
            text.AppendLine($"pr_pol_ep4 ({endpointEntries.Count})");
            foreach (var (key, value) in endpointEntries.OrderBy(e => name(e.Key.Address), StringComparer.Ordinal))
                text.AppendLine($"  {name(key.Address)} {key.Address}: {value}");
            text.AppendLine($"pr_pol_ports4 ({portEntries.Count})");
            foreach (var (key, value) in portEntries.OrderBy(e => (e.Key.Set, e.Key.Protocol, e.Key.Port)))
                text.AppendLine($"  {key} -> {value}");
            text.AppendLine($"pr_pol_peers4 ({peerEntries.Count})");
            foreach (var (key, value) in peerEntries.OrderBy(e => (e.Key.Set, e.Key.PortClass, e.Key.PrefixLength)))
                text.AppendLine($"  {key} -> {value}");
        }
        catch (Exception e)
        {
            text.AppendLine($"(policy maps unreadable: {e.Message})");
        }
        return text.ToString();
    }
}
