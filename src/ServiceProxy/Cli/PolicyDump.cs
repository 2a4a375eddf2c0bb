using System.Text;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Policy;

namespace ProxyReplacement.ServiceProxy.Cli;

/// <summary>
/// The POLICY part of `dump`: each endpoint of this node (pod, address; "open" in a direction no policy isolates) with its ingress and egress sets, then each set's
/// entries readable: its port blocks -> class, and per class its peer prefixes -> allow/deny with the rule that decided
/// (<c>ns/policy ingress[0]</c> when the daemon's <see cref="PolicyNames"/> are there, else the rule id).
/// </summary>
public static class PolicyDump
{
    public sealed record EndpointRow(string Address, string? Pod, uint IngressSet, uint EgressSet);
    public sealed record PeerRow(string Peer, string Verdict, uint Rule, string RuleName);
    public sealed record ClassRow(uint Class, IReadOnlyList<PeerRow> Peers);
    public sealed record SetRow(uint Set, IReadOnlyList<string> Ports, IReadOnlyList<ClassRow> Classes);
    public sealed record Contents(IReadOnlyList<EndpointRow> Endpoints, IReadOnlyList<SetRow> Sets);

    public static Contents Read(IBpfMap<PolicyEndpointKey4, PolicyEndpoint> endpoints, IBpfMap<PolicyPortKey, PolicyPortValue> ports,
        IBpfMap<PolicyPeerKey4, PolicyPeerValue> peers, PolicyNames? names)
    {
        names ??= PolicyNames.None;
        var endpointRows = endpoints.ReadAll()
            .OrderBy(e => Prefix4.ToUInt(e.Key.Address))
            .Select(e => new EndpointRow(e.Key.ToString(), names.Pod(e.Key.ToString()), e.Value.IngressSet, e.Value.EgressSet))
            .ToList();
        var peersBySet = peers.ReadAll().ToLookup(p => p.Key.Set);
        var sets = ports.ReadAll().GroupBy(p => p.Key.Set)
            .Select(group => group.Key)
            .Union(peersBySet.Select(g => g.Key))
            .Union(endpointRows.SelectMany(e => new[] { e.IngressSet, e.EgressSet }).Where(s => s != 0))
            .Order()
            .Select(set =>
            {
                var portRows = ports.ReadAll().Where(p => p.Key.Set == set)
                    .OrderBy(p => p.Key.Protocol).ThenBy(p => p.Key.Port)
                    .Select(p => new PortEntry(p.Key.Protocol, p.Key.Port, p.Key.PortPrefixBits, p.Value.PortClass).ToString())
                    .ToList();
                var classes = peersBySet[set].GroupBy(p => p.Key.PortClass).OrderBy(g => g.Key)
                    .Select(g => new ClassRow(g.Key, g.OrderBy(p => Prefix4.Of(p.Key.Peer)).Select(p => new PeerRow(p.Key.Peer.ToString(),
                        p.Value.Verdict.ToString().ToLowerInvariant(), p.Value.Rule, names.Rule(p.Value.Rule))).ToList()))
                    .ToList();
                return new SetRow(set, portRows, classes);
            })
            .ToList();
        return new Contents(endpointRows, sets);
    }

    public static void AppendText(StringBuilder text, Contents contents)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(contents);
        var isolated = contents.Endpoints.Count(e => e.IngressSet != 0 || e.EgressSet != 0);
        text.Append($"\nPOLICY ({contents.Endpoints.Count} endpoints tracked, {isolated} isolated, {contents.Sets.Count} rule sets; a pod without an entry is neither tracked nor isolated)\n");
        foreach (var endpoint in contents.Endpoints)
            text.Append($"  {endpoint.Pod ?? "(pod unknown)",-30} {endpoint.Address,-15} ingress {Set(endpoint.IngressSet),-8} egress {Set(endpoint.EgressSet)}\n");
        foreach (var set in contents.Sets)
        {
            text.Append($"  set {set.Set}: {(set.Ports.Count == 0 ? "no port allowed (deny all)" : string.Join(", ", set.Ports))}\n");
            foreach (var cls in set.Classes)
            {
                text.Append($"      class {cls.Class}:\n");
                foreach (var peer in cls.Peers)
                    text.Append($"        {peer.Peer,-18} {peer.Verdict,-5} {peer.RuleName}\n");
            }
        }
    }

    private static string Set(uint set) => set == 0 ? "open" : $"set {set}";
}
