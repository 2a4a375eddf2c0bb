using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Abi;

/// <summary>
/// Mirrors <c>struct pr_config</c> (the single entry of the <c>pr_config</c> array):
/// <code>
/// struct pr_config { __u32 abi_version; __u32 flags; __u32 tcp_syn_timeout_s;
///                    __u32 tcp_established_timeout_s; __u32 tcp_closing_timeout_s;
///                    __u32 udp_timeout_s; __u32 generic_timeout_s; __u32 pad; };
/// </code>
/// A zero timeout means "use the dataplane default" (<c>PR_DEFAULT_*</c>).
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 32)]
public readonly record struct DataplaneConfig
{
    /// <summary><c>PR_ABI_VERSION</c> of bpf-c/include/pr_map_abi.h.</summary>
    public const uint CurrentAbiVersion = 1;

    [FieldOffset(0)] public readonly uint AbiVersion;
    [FieldOffset(4)] public readonly uint Flags;
    [FieldOffset(8)] public readonly uint TcpSynTimeoutSeconds;
    [FieldOffset(12)] public readonly uint TcpEstablishedTimeoutSeconds;
    [FieldOffset(16)] public readonly uint TcpClosingTimeoutSeconds;
    [FieldOffset(20)] public readonly uint UdpTimeoutSeconds;
    [FieldOffset(24)] public readonly uint GenericTimeoutSeconds;
    [FieldOffset(28)] private readonly uint _pad;

    public DataplaneConfig(uint tcpSynTimeoutSeconds, uint tcpEstablishedTimeoutSeconds, uint tcpClosingTimeoutSeconds,
        uint udpTimeoutSeconds, uint genericTimeoutSeconds)
    {
        AbiVersion = CurrentAbiVersion;
        Flags = 0;
        TcpSynTimeoutSeconds = tcpSynTimeoutSeconds;
        TcpEstablishedTimeoutSeconds = tcpEstablishedTimeoutSeconds;
        TcpClosingTimeoutSeconds = tcpClosingTimeoutSeconds;
        UdpTimeoutSeconds = udpTimeoutSeconds;
        GenericTimeoutSeconds = genericTimeoutSeconds;
        _pad = 0;
    }

    /// <summary>The dataplane defaults (<c>PR_DEFAULT_*</c>), stamped with the current ABI version.</summary>
    public static DataplaneConfig Default => new(60, 21600, 10, 60, 60);
}
