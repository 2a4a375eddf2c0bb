using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Abi;

/// <summary>
/// Mirrors <c>struct pr_config</c> (the single entry of the <c>pr_config</c> array):
/// <code>
/// struct pr_config { __u32 abi_version; __u32 flags; __u32 tcp_syn_timeout_s;
///                    __u32 tcp_established_timeout_s; __u32 tcp_closing_timeout_s;
///                    __u32 udp_timeout_s; __u32 generic_timeout_s; __u32 sock_lb_mode;
///                    __be32 hairpin_addr; __u32 direct_mask4;
///                    __u32 ext_mode; __be32 node_addr4; __be16 tunnel_port; __u16 tunnel_mtu; __u32 tunnel_vni;
///                    __u16 snat_port_min; __u16 snat_port_max; __u32 pad2; __u8 node_addr6[16]; };
/// </code>
/// A zero timeout means "use the dataplane default" (<c>PR_DEFAULT_*</c>). <c>sock_lb_mode</c> took
/// the place of the trailing zero padding (same layout, and zero is <see cref="SocketLbMode.Disabled"/>).
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 80)]
public readonly record struct DataplaneConfig
{
    /// <summary><c>PR_ABI_VERSION</c> of bpf-c/include/pr_map_abi.h.</summary>
    public const uint CurrentAbiVersion = 5;

    /// <summary>The ABI versions whose pins this build adopts as they are (re-stamped on the first config write): 4 lacks only
    /// what ABI 5 added, the new <c>pr_nat_direct4</c> map (created empty, filled by the Syncer) and <c>direct_mask4</c> in former padding.</summary>
    public static readonly IReadOnlySet<uint> AdoptableAbiVersions = new HashSet<uint> { 4, CurrentAbiVersion };

    /// <summary><c>PR_DEFAULT_HAIRPIN_ADDR_HBO</c>: 169.254.7.1, the hairpin source when none is configured.</summary>
    public static readonly System.Net.IPAddress DefaultHairpinAddress = System.Net.IPAddress.Parse("169.254.7.1");

    [FieldOffset(0)] public readonly uint AbiVersion;
    [FieldOffset(4)] public readonly uint Flags;
    [FieldOffset(8)] public readonly uint TcpSynTimeoutSeconds;
    [FieldOffset(12)] public readonly uint TcpEstablishedTimeoutSeconds;
    [FieldOffset(16)] public readonly uint TcpClosingTimeoutSeconds;
    [FieldOffset(20)] public readonly uint UdpTimeoutSeconds;
    [FieldOffset(24)] public readonly uint GenericTimeoutSeconds;
    [FieldOffset(28)] public readonly SocketLbMode SocketLbMode;
    [FieldOffset(32)] public readonly uint HairpinAddressNbo;
    [FieldOffset(36)] public readonly uint DirectMask4;
    [FieldOffset(40)] public readonly ExternalServiceMode ExternalMode;
    [FieldOffset(44)] public readonly uint NodeAddressNbo;
    [FieldOffset(48)] public readonly ushort TunnelPortNbo;
    [FieldOffset(50)] public readonly ushort TunnelMtu;
    [FieldOffset(52)] public readonly uint TunnelVni;
    [FieldOffset(56)] public readonly ushort SnatPortMin;
    [FieldOffset(58)] public readonly ushort SnatPortMax;
    [FieldOffset(60)] private readonly uint _pad2;
    [FieldOffset(64)] private readonly Ipv6Bytes _nodeAddress6;

    public DataplaneConfig(uint tcpSynTimeoutSeconds, uint tcpEstablishedTimeoutSeconds, uint tcpClosingTimeoutSeconds,
        uint udpTimeoutSeconds, uint genericTimeoutSeconds, SocketLbMode socketLbMode = SocketLbMode.Disabled, uint hairpinAddressNbo = 0)
        : this(tcpSynTimeoutSeconds, tcpEstablishedTimeoutSeconds, tcpClosingTimeoutSeconds, udpTimeoutSeconds, genericTimeoutSeconds, socketLbMode,
            hairpinAddressNbo, MultiNodeConfig.Default)
    {
    }

    private DataplaneConfig(uint tcpSynTimeoutSeconds, uint tcpEstablishedTimeoutSeconds, uint tcpClosingTimeoutSeconds,
        uint udpTimeoutSeconds, uint genericTimeoutSeconds, SocketLbMode socketLbMode, uint hairpinAddressNbo, MultiNodeConfig multiNode,
        uint directMask4 = 0)
    {
        HairpinAddressNbo = hairpinAddressNbo;
        DirectMask4 = directMask4;
        _pad2 = 0;
        _nodeAddress6 = default;
        ExternalMode = multiNode.Mode;
        NodeAddressNbo = multiNode.NodeAddress is null ? 0 : Ipv4.ToNbo(multiNode.NodeAddress);
        TunnelPortNbo = Ipv4.PortToNbo(multiNode.TunnelPort);
        TunnelMtu = multiNode.TunnelMtu;
        TunnelVni = multiNode.TunnelVni;
        SnatPortMin = multiNode.SnatPortMin;
        SnatPortMax = multiNode.SnatPortMax;
        AbiVersion = CurrentAbiVersion;
        Flags = 0;
        TcpSynTimeoutSeconds = tcpSynTimeoutSeconds;
        TcpEstablishedTimeoutSeconds = tcpEstablishedTimeoutSeconds;
        TcpClosingTimeoutSeconds = tcpClosingTimeoutSeconds;
        UdpTimeoutSeconds = udpTimeoutSeconds;
        GenericTimeoutSeconds = genericTimeoutSeconds;
        SocketLbMode = socketLbMode;
    }

    /// <summary>This configuration with another connect-time balancing mode.</summary>
    public DataplaneConfig WithSocketLbMode(SocketLbMode mode) =>
        new(TcpSynTimeoutSeconds, TcpEstablishedTimeoutSeconds, TcpClosingTimeoutSeconds, UdpTimeoutSeconds, GenericTimeoutSeconds, mode,
            HairpinAddressNbo, MultiNode, DirectMask4);

    /// <summary>This configuration with another hairpin source address (an IPv4 address; 0.0.0.0: the default).</summary>
    public DataplaneConfig WithHairpinAddress(System.Net.IPAddress address) =>
        new(TcpSynTimeoutSeconds, TcpEstablishedTimeoutSeconds, TcpClosingTimeoutSeconds, UdpTimeoutSeconds, GenericTimeoutSeconds, SocketLbMode,
            Ipv4.ToNbo(address), MultiNode, DirectMask4);

    /// <summary>This configuration with other many-node settings (external service mode, node address, tunnel, SNAT ports).</summary>
    public DataplaneConfig WithMultiNode(MultiNodeConfig multiNode) =>
        new(TcpSynTimeoutSeconds, TcpEstablishedTimeoutSeconds, TcpClosingTimeoutSeconds, UdpTimeoutSeconds, GenericTimeoutSeconds, SocketLbMode,
            HairpinAddressNbo, multiNode, DirectMask4);

    /// <summary>
    /// This configuration with the ClusterIP fast path's mask: <c>pr_nat_direct4</c>'s size - 1 (a power of two; 0 turns
    /// the table off: every VIP then maps to slot 0, which the control plane leaves empty).
    /// </summary>
    public DataplaneConfig WithDirectMask(uint mask) =>
        new(TcpSynTimeoutSeconds, TcpEstablishedTimeoutSeconds, TcpClosingTimeoutSeconds, UdpTimeoutSeconds, GenericTimeoutSeconds, SocketLbMode,
            HairpinAddressNbo, MultiNode, mask);

    /// <summary>The many-node fields as written (zeros are the dataplane's defaults, see <see cref="MultiNodeConfig"/>).</summary>
    public MultiNodeConfig MultiNode =>
        new(ExternalMode, NodeAddressNbo == 0 ? null : Ipv4.FromNbo(NodeAddressNbo), Ipv4.PortFromNbo(TunnelPortNbo), TunnelMtu, TunnelVni,
            SnatPortMin, SnatPortMax);

    /// <summary>The hairpin source the dataplane uses with this configuration.</summary>
    public System.Net.IPAddress HairpinAddress => HairpinAddressNbo == 0 ? DefaultHairpinAddress : Ipv4.FromNbo(HairpinAddressNbo);

    /// <summary>The dataplane defaults (<c>PR_DEFAULT_*</c>), stamped with the current ABI version; socket hooks disabled.</summary>
    public static DataplaneConfig Default => new(60, 21600, 10, 60, 60);
}

/// <summary>
/// <c>enum pr_sock_lb_mode</c>: which sockets the cgroup hooks translate (connect-time balancing,
/// Calico's modes). Read by the programs per call, so writing <c>pr_config</c> switches it at run time.
/// </summary>
public enum SocketLbMode : uint
{
    /// <summary>Every socket is left to the TC path.</summary>
    Disabled = 0,

    /// <summary>TCP connect() is translated; UDP is left to the TC path.</summary>
    Tcp = 1,

    /// <summary>TCP and UDP (connect and unconnected sendmsg) are translated.</summary>
    Enabled = 2,
}

/// <summary>
/// <c>enum pr_ext_mode</c>: how traffic from outside the node reaches a backend on another node (Calico's
/// <c>bpfExternalServiceMode</c>, with SNAT as a third).
/// </summary>
public enum ExternalServiceMode : uint
{
    /// <summary>Encapsulated (Geneve) to the backend's node, replies back through the tunnel; the client's IP is kept. The default.</summary>
    Tunnel = 0,

    /// <summary>The source is rewritten to this node's address; the backend sees the node, not the client.</summary>
    Snat = 1,

    /// <summary>Encapsulated with the frontend in a Geneve option; the backend's node answers the client directly.</summary>
    Dsr = 2,
}

/// <summary>
/// The many-node fields of <c>pr_config</c>. Zeros mean the dataplane's defaults (<c>PR_DEFAULT_TUNNEL_*</c>,
/// <c>PR_DEFAULT_SNAT_PORT_*</c>); a null <paramref name="NodeAddress"/> means this node serves no remote backend
/// from outside (external traffic goes to whatever backend is chosen, routed by the kernel, as on one node).
/// </summary>
public sealed record MultiNodeConfig(
    ExternalServiceMode Mode, System.Net.IPAddress? NodeAddress, ushort TunnelPort, ushort TunnelMtu, uint TunnelVni, ushort SnatPortMin, ushort SnatPortMax)
{
    /// <summary><c>PR_DEFAULT_TUNNEL_PORT</c>: Geneve on 6082, so that a CNI's own Geneve device (6081) keeps its port.</summary>
    public const ushort DefaultTunnelPort = 6082;

    /// <summary><c>PR_DEFAULT_TUNNEL_MTU</c>: 1500 - 62 bytes of encapsulation (outer IPv4, UDP, Geneve, our option, inner Ethernet).</summary>
    public const ushort DefaultTunnelMtu = 1438;

    /// <summary>The encapsulation's overhead on an inner IP packet: outer IPv4 20, UDP 8, Geneve 8, our option 12 (on every packet, both modes), inner Ethernet 14.</summary>
    public const int EncapsulationOverhead = 62;

    /// <summary><c>PR_DEFAULT_TUNNEL_VNI</c>.</summary>
    public const uint DefaultTunnelVni = 0x5052;

    /// <summary><c>PR_DEFAULT_SNAT_PORT_MIN</c>..<c>MAX</c> (Calico's <c>bpfPSNATPorts</c>).</summary>
    public const ushort DefaultSnatPortMin = 20000, DefaultSnatPortMax = 29999;

    /// <summary>Everything unset: tunnel mode, defaults, no node address.</summary>
    public static MultiNodeConfig Default { get; } = new(ExternalServiceMode.Tunnel, null, 0, 0, 0, 0, 0);
}

/// <summary>Sixteen zero bytes (a reserved IPv6 address field).</summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
internal readonly record struct Ipv6Bytes
{
    private readonly ulong _low;
    private readonly ulong _high;
}
