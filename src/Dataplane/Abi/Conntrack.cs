using System.Net;
using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Abi;

/// <summary>
/// Mirrors <c>struct pr_ct_key4</c>:
/// <code>
/// struct pr_ct_key4 { __be32 src; __be32 dst; __be16 sport; __be16 dport; __u8 proto; __u8 pad[3]; };
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
public readonly record struct ConntrackKey4
{
    [FieldOffset(0)] public readonly uint SourceNbo;
    [FieldOffset(4)] public readonly uint DestinationNbo;
    [FieldOffset(8)] public readonly ushort SourcePortNbo;
    [FieldOffset(10)] public readonly ushort DestinationPortNbo;
    [FieldOffset(12)] public readonly byte Protocol;
    [FieldOffset(13)] private readonly byte _pad0;
    [FieldOffset(14)] private readonly ushort _pad1;

    public ConntrackKey4(IPAddress source, ushort sourcePort, IPAddress destination, ushort destinationPort, L4Protocol protocol)
    {
        SourceNbo = Ipv4.ToNbo(source);
        DestinationNbo = Ipv4.ToNbo(destination);
        SourcePortNbo = Ipv4.PortToNbo(sourcePort);
        DestinationPortNbo = Ipv4.PortToNbo(destinationPort);
        Protocol = (byte)protocol;
        _pad0 = 0;
        _pad1 = 0;
    }

    public IPAddress Source => Ipv4.FromNbo(SourceNbo);
    public IPAddress Destination => Ipv4.FromNbo(DestinationNbo);
    public ushort SourcePort => Ipv4.PortFromNbo(SourcePortNbo);
    public ushort DestinationPort => Ipv4.PortFromNbo(DestinationPortNbo);
    public L4Protocol L4 => (L4Protocol)Protocol;

    public override string ToString() =>
        $"{L4.ToString().ToLowerInvariant()} {Source}:{SourcePort} -> {Destination}:{DestinationPort}";
}

/// <summary><c>enum pr_ct_type</c>.</summary>
public enum ConntrackType : byte
{
    Forward = 1,
    Reverse = 2,

    /// <summary>On the backend's node: a flow tunnelled here; replies go back through the tunnel to <see cref="ConntrackValue4.TunnelAddress"/>.</summary>
    TunnelReturn = 3,
}

/// <summary><c>enum pr_ct_tcp_state</c>.</summary>
public enum ConntrackTcpState : byte
{
    None = 0,
    SynSent = 1,
    Established = 2,
    Closing = 3,
    Closed = 4,
}

/// <summary>
/// Mirrors <c>struct pr_ct_value4</c>:
/// <code>
/// struct pr_ct_value4 { __u64 created_ns; __u64 last_seen_ns; __u8 type; __u8 tcp_state;
///                       __u8 fin_seen; __u8 flags; __u32 svc_id; __be32 nat_addr;
///                       __be16 nat_port; __u16 pad;
///                       __be32 peer_addr; __be16 peer_port; __u16 pad2; __be32 tunnel_addr; __u32 pad3; };
/// </code>
/// Forward entries: nat = backend. Reverse entries: nat = the VIP:port replies are rewritten to.
/// peer_* and tunnel_addr serve the many-node modes (<see cref="ConntrackFlags"/>; <c>pr_map_abi.h</c> says who writes what).
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 48)]
public readonly record struct ConntrackValue4
{
    [FieldOffset(0)] public readonly ulong CreatedNs;
    [FieldOffset(8)] public readonly ulong LastSeenNs;
    [FieldOffset(16)] public readonly ConntrackType Type;
    [FieldOffset(17)] public readonly ConntrackTcpState TcpState;
    [FieldOffset(18)] public readonly byte FinSeen;
    [FieldOffset(19)] public readonly byte Flags;
    [FieldOffset(20)] public readonly uint ServiceId;
    [FieldOffset(24)] public readonly uint NatAddressNbo;
    [FieldOffset(28)] public readonly ushort NatPortNbo;
    [FieldOffset(30)] private readonly ushort _pad;
    [FieldOffset(32)] public readonly uint PeerAddressNbo;
    [FieldOffset(36)] public readonly ushort PeerPortNbo;
    [FieldOffset(38)] private readonly ushort _pad2;
    [FieldOffset(40)] public readonly uint TunnelAddressNbo;
    [FieldOffset(44)] private readonly uint _pad3;

    public ConntrackValue4(ulong createdNs, ulong lastSeenNs, ConntrackType type, ConntrackTcpState tcpState,
        byte finSeen, byte flags, uint serviceId, IPAddress natAddress, ushort natPort)
    {
        CreatedNs = createdNs;
        LastSeenNs = lastSeenNs;
        Type = type;
        TcpState = tcpState;
        FinSeen = finSeen;
        Flags = flags;
        ServiceId = serviceId;
        NatAddressNbo = Ipv4.ToNbo(natAddress);
        NatPortNbo = Ipv4.PortToNbo(natPort);
        _pad = 0;
    }

    public ConntrackValue4(ulong createdNs, ulong lastSeenNs, ConntrackType type, ConntrackTcpState tcpState,
        byte finSeen, byte flags, uint serviceId, IPAddress natAddress, ushort natPort, IPAddress? peerAddress, ushort peerPort, IPAddress? tunnelAddress)
        : this(createdNs, lastSeenNs, type, tcpState, finSeen, flags, serviceId, natAddress, natPort)
    {
        PeerAddressNbo = peerAddress is null ? 0 : Ipv4.ToNbo(peerAddress);
        PeerPortNbo = Ipv4.PortToNbo(peerPort);
        TunnelAddressNbo = tunnelAddress is null ? 0 : Ipv4.ToNbo(tunnelAddress);
    }

    public ConntrackFlags FlowFlags => (ConntrackFlags)Flags;
    public IPAddress? PeerAddress => PeerAddressNbo == 0 ? null : Ipv4.FromNbo(PeerAddressNbo);
    public ushort PeerPort => Ipv4.PortFromNbo(PeerPortNbo);
    public IPAddress? TunnelAddress => TunnelAddressNbo == 0 ? null : Ipv4.FromNbo(TunnelAddressNbo);

    public IPAddress NatAddress => Ipv4.FromNbo(NatAddressNbo);
    public ushort NatPort => Ipv4.PortFromNbo(NatPortNbo);
}

/// <summary>Conntrack flags (<c>PR_CT_F_*</c>).</summary>
[Flags]
public enum ConntrackFlags : byte
{
    None = 0,
    Affinity = 1 << 0,
    Hairpin = 1 << 1,
    LocalVip = 1 << 2,

    /// <summary>External flow to a remote backend, SNATed to this node (peer = the SNAT source, or on the reverse entry the client).</summary>
    Snat = 1 << 3,

    /// <summary>External flow tunnelled to the backend's node (<see cref="ConntrackValue4.TunnelAddress"/>).</summary>
    Tunnel = 1 << 4,

    /// <summary>External flow in DSR mode: tunnelled there; on the backend's node, its replies go straight to the client.</summary>
    Dsr = 1 << 5,
}
