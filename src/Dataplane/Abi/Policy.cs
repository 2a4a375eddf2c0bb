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

/// <summary>
/// Mirrors <c>struct pr_pol_ct_key4</c> (the key of <c>pr_pol_ct4</c>, the policy conntrack): a flow's two ends in a
/// fixed order, end a the lower (address, port) compared as raw network-order values.
/// <code>
/// struct pr_pol_ct_key4 { __be32 addr_a; __be32 addr_b; __be16 port_a; __be16 port_b; __u8 proto; __u8 pad[3]; };
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
public readonly record struct PolicyConntrackKey4
{
    [FieldOffset(0)] public readonly uint AddressANbo;
    [FieldOffset(4)] public readonly uint AddressBNbo;
    [FieldOffset(8)] public readonly ushort PortANbo;
    [FieldOffset(10)] public readonly ushort PortBNbo;
    [FieldOffset(12)] public readonly byte Protocol;
    [FieldOffset(13)] private readonly byte _pad0;
    [FieldOffset(14)] private readonly ushort _pad1;

    private PolicyConntrackKey4(uint a, ushort portA, uint b, ushort portB, byte protocol)
    {
        AddressANbo = a;
        PortANbo = portA;
        AddressBNbo = b;
        PortBNbo = portB;
        Protocol = protocol;
        _pad0 = 0;
        _pad1 = 0;
    }

    /// <summary>The key of the flow between two ends, in the order the programs put them (either argument order gives the same key).</summary>
    public static PolicyConntrackKey4 Of(IPAddress first, ushort firstPort, IPAddress second, ushort secondPort, byte protocol)
    {
        var (x, xPort) = (Ipv4.ToNbo(first), Ipv4.PortToNbo(firstPort));
        var (y, yPort) = (Ipv4.ToNbo(second), Ipv4.PortToNbo(secondPort));
        // The programs compare the host-order values of the network-order fields: the numeric address, then the port.
        var firstIsA = x == y ? firstPort <= secondPort : AsNumber(first) < AsNumber(second);
        return firstIsA ? new(x, xPort, y, yPort, protocol) : new(y, yPort, x, xPort, protocol);
    }

    /// <summary>Whether <paramref name="address"/>:<paramref name="port"/> is end a of this key.</summary>
    public bool IsEndA(IPAddress address, ushort port) => AddressANbo == Ipv4.ToNbo(address) && PortANbo == Ipv4.PortToNbo(port);

    public IPAddress AddressA => Ipv4.FromNbo(AddressANbo);
    public IPAddress AddressB => Ipv4.FromNbo(AddressBNbo);
    public ushort PortA => Ipv4.PortFromNbo(PortANbo);
    public ushort PortB => Ipv4.PortFromNbo(PortBNbo);

    public override string ToString() => $"proto {Protocol} {AddressA}:{PortA} <-> {AddressB}:{PortB}";

    private static uint AsNumber(IPAddress address)
    {
        var bytes = address.GetAddressBytes();
        return (uint)bytes[0] << 24 | (uint)bytes[1] << 16 | (uint)bytes[2] << 8 | bytes[3];
    }
}

/// <summary>The <c>PR_POL_CT_F_*</c> bits of <see cref="PolicyConntrackValue4.Flags"/>.</summary>
[Flags]
public enum PolicyConntrackFlags : uint
{
    None = 0,

    /// <summary>End a, an endpoint of this node, approved the flow (its check passed, or its direction is open).</summary>
    AApproved = 1 << 0,

    /// <summary>End b approved the flow.</summary>
    BApproved = 1 << 1,

    /// <summary>End a sent the first packet this node saw of the flow.</summary>
    AInitiated = 1 << 2,
}

/// <summary>
/// Mirrors <c>struct pr_pol_ct_value4</c>.
/// <code>
/// struct pr_pol_ct_value4 { __u64 last_seen_ns; __u32 flags; __u32 pad; };
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
public readonly record struct PolicyConntrackValue4
{
    [FieldOffset(0)] public readonly ulong LastSeenNs;
    [FieldOffset(8)] public readonly PolicyConntrackFlags Flags;
    [FieldOffset(12)] private readonly uint _pad;

    public PolicyConntrackValue4(ulong lastSeenNs, PolicyConntrackFlags flags)
    {
        LastSeenNs = lastSeenNs;
        Flags = flags;
        _pad = 0;
    }

    public override string ToString() => $"{Flags}, last seen {LastSeenNs}";
}
