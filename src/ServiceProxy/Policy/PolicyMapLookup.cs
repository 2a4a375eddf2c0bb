using System.Net;
using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Policy;

/// <summary>What the policy maps say about one packet in one direction, and why.</summary>
public sealed record PolicyDecision(bool Allowed, string Why, uint Set = 0, uint PortClass = 0, uint Rule = 0, PolicyPeerKey4? PeerEntry = null);

/// <summary>
/// The dataplane's two lookups over the policy maps' entries, in memory (tests; <c>explain</c> over the pinned maps):
/// the endpoint's set for the direction (no entry or set 0: open), then the longest port prefix of (set, protocol,
/// port) -> port class (a miss denies), then the longest peer prefix of (set, class, peer) -> verdict (a miss denies).
/// The BPF programs are the truth: a change there needs the same change here.
/// </summary>
public sealed class PolicyMapLookup(
    IReadOnlyDictionary<PolicyEndpointKey4, PolicyEndpoint> endpoints,
    IReadOnlyCollection<KeyValuePair<PolicyPortKey, PolicyPortValue>> ports,
    IReadOnlyCollection<KeyValuePair<PolicyPeerKey4, PolicyPeerValue>> peers)
{
    /// <param name="pod">The endpoint: the destination for ingress, the source for egress.</param>
    /// <param name="peer">The other side: the source for ingress, the (translated) destination for egress.</param>
    /// <param name="protocol">The IP protocol number.</param>
    /// <param name="port">The destination port (ignored for protocols other than TCP, UDP and SCTP).</param>
    public PolicyDecision Decide(IPAddress pod, PolicyDirection direction, byte protocol, ushort port, IPAddress peer)
    {
        if (!endpoints.TryGetValue(new PolicyEndpointKey4(pod), out var endpoint))
            return new PolicyDecision(true, $"{pod} is isolated by no policy (no pr_pol_ep4 entry)");
        var set = direction == PolicyDirection.Ingress ? endpoint.IngressSet : endpoint.EgressSet;
        if (set == 0)
            return new PolicyDecision(true, $"{pod} is not isolated for {direction.ToString().ToLowerInvariant()}");
        var keyProtocol = protocol is 6 or 17 or 132 ? protocol : PolicyPortKey.OtherProtocol;
        var keyPort = keyProtocol == PolicyPortKey.OtherProtocol ? (ushort)0 : port;
        PolicyPortKey? bestPort = null;
        PolicyPortValue portValue = default;
        foreach (var (key, value) in ports)
        {
            if (key.Set != set || key.Protocol != keyProtocol)
                continue;
            var bits = key.PortPrefixBits;
            if (bits > 0 && (keyPort >> (16 - bits)) != (key.Port >> (16 - bits)))
                continue;
            if (bestPort is null || bits > bestPort.Value.PortPrefixBits)
                (bestPort, portValue) = (key, value);
        }
        if (bestPort is null)
            return new PolicyDecision(false, $"set {set}: no rule allows protocol {protocol} port {port} (no pr_pol_ports4 match)", set);

        var address = Prefix4.Host(peer);
        PolicyPeerKey4? bestPeer = null;
        PolicyPeerValue peerValue = default;
        foreach (var (key, value) in peers)
        {
            if (key.Set != set || key.PortClass != portValue.PortClass)
                continue;
            var prefix = Prefix4.Of(key.Peer);
            if (!prefix.Contains(address.Address))
                continue;
            if (bestPeer is null || key.PrefixLength > bestPeer.Value.PrefixLength)
                (bestPeer, peerValue) = (key, value);
        }
        if (bestPeer is null)
            return new PolicyDecision(false, $"set {set} class {portValue.PortClass}: no rule of these ports allows {peer} (no pr_pol_peers4 match)", set, portValue.PortClass);
        return new PolicyDecision(peerValue.Verdict == PolicyVerdict.Allow,
            $"set {set} class {portValue.PortClass}: {bestPeer.Value.Peer} -> {peerValue.Verdict.ToString().ToLowerInvariant()}",
            set, portValue.PortClass, peerValue.Rule, bestPeer);
    }
}
