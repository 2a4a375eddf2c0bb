using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Policy;

/// <summary>One pod of this node that some policy isolates: its address and the set of each direction (0: open).</summary>
public sealed record PolicyEndpointInfo(ObjectKey Pod, IPAddress Address, uint IngressSet, uint EgressSet);

/// <summary>
/// What one compile produced: the three maps' desired entries, the endpoints and sets behind them (dump, explain), the
/// rule table (rule id -> policy, direction, index), the problems (malformed policies, parts not enforced) and the ids
/// to carry into the next compile.
/// </summary>
public sealed record CompiledPolicy(
    IReadOnlyDictionary<PolicyEndpointKey4, PolicyEndpoint> Endpoints,
    IReadOnlyDictionary<PolicyPortKey, PolicyPortValue> Ports,
    IReadOnlyDictionary<PolicyPeerKey4, PolicyPeerValue> Peers,
    IReadOnlyList<PolicyEndpointInfo> EndpointInfos,
    IReadOnlyDictionary<uint, RuleSetContent> Sets,
    IReadOnlyDictionary<uint, RuleRef> RuleTable,
    IReadOnlyList<PolicyProblem> Problems,
    PolicyIds Ids)
{
    /// <summary>The map entries of one set.</summary>
    public static (IEnumerable<KeyValuePair<PolicyPortKey, PolicyPortValue>> Ports, IEnumerable<KeyValuePair<PolicyPeerKey4, PolicyPeerValue>> Peers) Entries(
        uint set, RuleSetContent content) =>
        (content.Ports.Select(p => KeyValuePair.Create(new PolicyPortKey(set, p.Protocol, p.Port, p.Bits), new PolicyPortValue(p.Class))),
         content.Peers.Select(p => KeyValuePair.Create(new PolicyPeerKey4(set, p.Class, p.Peer.ToNetwork()), new PolicyPeerValue(p.Verdict, p.Rule))));
}
