using System.Net;
using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.Dataplane.Tests.Golden.Policy;

/// <summary>
/// Writes NetworkPolicy map entries by hand, from the ABI (pr_map_abi.h "NetworkPolicy"), the way a compiled rule
/// set looks: the endpoint's sets, port blocks -> port class, (class, peer prefix) -> verdict. Independent of the
/// policy compiler on purpose: these tests pin what the dataplane does with given entries.
/// </summary>
public sealed class PolicyMaps(CoreDataplane dataplane)
{
    /// <summary>pr_pol_ep4: the pod's ingress and egress sets (0: that direction not isolated).</summary>
    public void Endpoint(IPAddress pod, uint ingressSet, uint egressSet) =>
        dataplane.PolicyEndpoints.Update(new PolicyEndpointKey4(pod), new PolicyEndpoint(ingressSet, egressSet));

    /// <summary>pr_pol_ports4: one port (or, with fewer bits, an aligned block of ports) of a protocol -> class.</summary>
    public void Port(uint set, byte protocol, ushort port, uint portClass, int portPrefixBits = 16) =>
        dataplane.PolicyPorts.Update(new PolicyPortKey(set, protocol, port, portPrefixBits), new PolicyPortValue(portClass));

    /// <summary>pr_pol_ports4: every port of a protocol (prefix 48), or the class of the other protocols (255, port 0).</summary>
    public void AllPorts(uint set, byte protocol, uint portClass) => Port(set, protocol, 0, portClass, portPrefixBits: 0);

    /// <summary>pr_pol_peers4: (set, class, CIDR) -> verdict, with the rule id dump would name.</summary>
    public void Peer(uint set, uint portClass, string cidr, PolicyVerdict verdict = PolicyVerdict.Allow, uint rule = 1) =>
        dataplane.PolicyPeers.Update(new PolicyPeerKey4(set, portClass, IPNetwork.Parse(cidr)), new PolicyPeerValue(verdict, rule));

    public void RemovePeer(uint set, uint portClass, string cidr) =>
        dataplane.PolicyPeers.Delete(new PolicyPeerKey4(set, portClass, IPNetwork.Parse(cidr)));

    /// <summary>The policy conntrack entry of the flow between two ends (either order), or null.</summary>
    public PolicyConntrackValue4? Flow(IPAddress first, ushort firstPort, IPAddress second, ushort secondPort, byte protocol) =>
        dataplane.PolicyConntrack.TryLookup(PolicyConntrackKey4.Of(first, firstPort, second, secondPort, protocol), out var value)
            ? value : null;

    /// <summary>The approval bit of <paramref name="end"/> in the flow's entry (a or b, as the key orders them).</summary>
    public static PolicyConntrackFlags ApprovalOf(Endpoint end, Endpoint other, byte protocol) =>
        PolicyConntrackKey4.Of(end.Address, end.Port, other.Address, other.Port, protocol).IsEndA(end.Address, end.Port)
            ? PolicyConntrackFlags.AApproved
            : PolicyConntrackFlags.BApproved;
}
