using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Abi;

/// <summary>
/// Mirrors <c>struct pr_config</c> (the single entry of the <c>pr_config</c> array):
/// <code>
/// struct pr_config { __u32 abi_version; __u32 flags; __u32 tcp_syn_timeout_s;
///                    __u32 tcp_established_timeout_s; __u32 tcp_closing_timeout_s;
///                    __u32 udp_timeout_s; __u32 generic_timeout_s; __u32 sock_lb_mode;
///                    __be32 hairpin_addr; __u32 pad; };
/// </code>
/// A zero timeout means "use the dataplane default" (<c>PR_DEFAULT_*</c>). <c>sock_lb_mode</c> took
/// the place of the trailing zero padding (same layout, and zero is <see cref="SocketLbMode.Disabled"/>).
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 40)]
public readonly record struct DataplaneConfig
{
    /// <summary><c>PR_ABI_VERSION</c> of bpf-c/include/pr_map_abi.h.</summary>
    public const uint CurrentAbiVersion = 2;

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
    [FieldOffset(36)] private readonly uint _pad;

    public DataplaneConfig(uint tcpSynTimeoutSeconds, uint tcpEstablishedTimeoutSeconds, uint tcpClosingTimeoutSeconds,
        uint udpTimeoutSeconds, uint genericTimeoutSeconds, SocketLbMode socketLbMode = SocketLbMode.Disabled, uint hairpinAddressNbo = 0)
    {
        HairpinAddressNbo = hairpinAddressNbo;
        _pad = 0;
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
            HairpinAddressNbo);

    /// <summary>This configuration with another hairpin source address (an IPv4 address; 0.0.0.0: the default).</summary>
    public DataplaneConfig WithHairpinAddress(System.Net.IPAddress address) =>
        new(TcpSynTimeoutSeconds, TcpEstablishedTimeoutSeconds, TcpClosingTimeoutSeconds, UdpTimeoutSeconds, GenericTimeoutSeconds, SocketLbMode,
            Ipv4.ToNbo(address));

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
