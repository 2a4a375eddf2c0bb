using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Abi;

/// <summary>
/// Mirrors <c>struct pr_pol_ep_key4</c> (the key of <c>pr_pol_ep4</c>): a pod of this node.
/// <code>
/// struct pr_pol_ep_key4 { __be32 addr; };
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 4)]
public readonly record struct PolicyEndpointKey4
{
    [FieldOffset(0)] public readonly uint AddressNbo;

    public PolicyEndpointKey4(IPAddress address) => AddressNbo = Ipv4.ToNbo(address);

    public IPAddress Address => Ipv4.FromNbo(AddressNbo);

    public override string ToString() => Address.ToString();
}

/// <summary>
/// Mirrors <c>struct pr_pol_ep</c>: the rule set of each direction, 0 for "not isolated".
/// <code>
/// struct pr_pol_ep { __u32 ingress_set; __u32 egress_set; __u32 flags; __u32 pad; };
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
public readonly record struct PolicyEndpoint
{
    [FieldOffset(0)] public readonly uint IngressSet;
    [FieldOffset(4)] public readonly uint EgressSet;
    [FieldOffset(8)] public readonly uint Flags;
    [FieldOffset(12)] private readonly uint _pad;

    public PolicyEndpoint(uint ingressSet, uint egressSet)
    {
        IngressSet = ingressSet;
        EgressSet = egressSet;
        Flags = 0;
        _pad = 0;
    }

    public override string ToString() =>
        $"ingress {(IngressSet == 0 ? "open" : $"set {IngressSet}")}, egress {(EgressSet == 0 ? "open" : $"set {EgressSet}")}";
}

/// <summary>
/// Mirrors <c>struct pr_pol_port_key</c> (the LPM key of <c>pr_pol_ports4</c>):
/// <code>
/// struct pr_pol_port_key { __u32 prefixlen; __u32 set; __u8 proto; __u8 pad; __be16 port; };
/// </code>
/// The prefix length counts the bits after the prefixlen field: 48 matches every port of the protocol,
/// 64 one port.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 12)]
public readonly record struct PolicyPortKey
{
    /// <summary><c>PR_POL_PROTO_OTHER</c>: every IP protocol but TCP, UDP and SCTP (port 0).</summary>
    public const byte OtherProtocol = 255;

    /// <summary>Bits of set id, protocol and pad: a key with this prefix length matches every port.</summary>
    public const int FixedBits = 48;

    [FieldOffset(0)] public readonly uint PrefixLength;
    [FieldOffset(4)] public readonly uint Set;
    [FieldOffset(8)] public readonly byte Protocol;
    [FieldOffset(9)] private readonly byte _pad;
    [FieldOffset(10)] public readonly ushort PortNbo;

    /// <param name="portPrefixBits">How many leading bits of the port the entry matches (0..16).</param>
    public PolicyPortKey(uint set, byte protocol, ushort port, int portPrefixBits)
    {
        if (portPrefixBits is < 0 or > 16)
            throw new ArgumentOutOfRangeException(nameof(portPrefixBits), portPrefixBits, "a port prefix has 0..16 bits");
        PrefixLength = (uint)(FixedBits + portPrefixBits);
        Set = set;
        Protocol = protocol;
        _pad = 0;
        PortNbo = Ipv4.PortToNbo(port);
    }

    public ushort Port => Ipv4.PortFromNbo(PortNbo);

    public int PortPrefixBits => (int)PrefixLength - FixedBits;

    public override string ToString() => $"set {Set} proto {Protocol} port {Port}/{PortPrefixBits}";
}

/// <summary>
/// Mirrors <c>struct pr_pol_port_value</c>.
/// <code>
/// struct pr_pol_port_value { __u32 port_class; };
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 4)]
public readonly record struct PolicyPortValue
{
    [FieldOffset(0)] public readonly uint PortClass;

    public PolicyPortValue(uint portClass) => PortClass = portClass;

    public override string ToString() => $"class {PortClass}";
}

/// <summary>
/// Mirrors <c>struct pr_pol_peer_key4</c> (the LPM key of <c>pr_pol_peers4</c>):
/// <code>
/// struct pr_pol_peer_key4 { __u32 prefixlen; __u32 set; __u32 port_class; __be32 addr; };
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
public readonly record struct PolicyPeerKey4
{
    /// <summary>Bits of set id and port class before the address.</summary>
    public const int FixedBits = 64;

    [FieldOffset(0)] public readonly uint PrefixLength;
    [FieldOffset(4)] public readonly uint Set;
    [FieldOffset(8)] public readonly uint PortClass;
    [FieldOffset(12)] public readonly uint AddressNbo;

    public PolicyPeerKey4(uint set, uint portClass, IPNetwork peer)
    {
        if (peer.BaseAddress.AddressFamily != AddressFamily.InterNetwork)
            throw new ArgumentException($"{peer} is not an IPv4 network", nameof(peer));
        PrefixLength = (uint)(FixedBits + peer.PrefixLength);
        Set = set;
        PortClass = portClass;
        AddressNbo = Ipv4.ToNbo(peer.BaseAddress);
    }

    public IPNetwork Peer => new(Ipv4.FromNbo(AddressNbo), (int)PrefixLength - FixedBits);

    public override string ToString() => $"set {Set} class {PortClass} peer {Peer}";
}

/// <summary><c>enum pr_pol_verdict</c>.</summary>
public enum PolicyVerdict : uint
{
    Allow = 1,

    /// <summary>An ipBlock's except that no other rule allows.</summary>
    Deny = 2,
}

/// <summary>
/// Mirrors <c>struct pr_pol_peer_value</c>.
/// <code>
/// struct pr_pol_peer_value { __u32 verdict; __u32 rule; };
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 8)]
public readonly record struct PolicyPeerValue
{
    [FieldOffset(0)] public readonly PolicyVerdict Verdict;
    [FieldOffset(4)] public readonly uint Rule;

    public PolicyPeerValue(PolicyVerdict verdict, uint rule)
    {
        Verdict = verdict;
        Rule = rule;
    }

    public override string ToString() => $"{Verdict.ToString().ToLowerInvariant()} (rule {Rule})";
}
