using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Conntrack;

/// <summary>
/// The idle timeouts of conntrack entries, per protocol and TCP state, as the dataplane applies them
/// (<c>pr_ct_timeout_ns</c> in bpf-c/include/pr_conntrack.h) and as the sweeper mirrors them. The daemon
/// writes them into <c>pr_config</c> at start, so the BPF side's expiry-on-lookup and the sweeper's deletion
/// use the same numbers.
/// </summary>
/// <remarks>
/// Defaults, compared (seconds):
/// <code>
///                    ours    kube-proxy (nf_conntrack)          Calico BPF (felix)
/// TCP SYN sent         60    120 (Linux syn_sent)               20 (TCPSynSent)
/// TCP established   86400    86400 (--conntrack-tcp-timeout-    3600 (TCPEstablished)
///                            established)
/// TCP closed           10    10 close / 120 time_wait (Linux)   30 FINs seen / 40 RST seen
/// TCP closed, SNAT     70    (masquerade: as above)             (no such rule)
/// UDP                  60    30 unreplied / 120 stream (Linux)  60 (UDPTimeout)
/// other                600   600 (Linux generic)                600 (GenericTimeout)
/// </code>
/// A half-closed TCP flow (FIN one way, <c>CLOSING</c>) uses the established timeout: <c>pr_config</c> has no
/// field for kube-proxy's close-wait (1 h), and a half-closed stream may legitimately idle long.
/// A SNATed flow closed by FINs both ways keeps its entries, and so its SNAT port, at least
/// <see cref="SnatTimeWait.Seconds"/> (the backend's TIME_WAIT with margin), whatever the closing timeout says below that
/// (<see cref="SnatTimeWait"/>).
/// </remarks>
public sealed record ConntrackTimeouts
{
    public const ulong NsPerSecond = 1_000_000_000UL;

    /// <summary>SYN seen, no answer yet (every handshake packet refreshes the entry, so SYN retries keep it).</summary>
    public TimeSpan TcpSyn { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Established, and half-closed (FIN one way). kube-proxy's <c>--conntrack-tcp-timeout-established</c> default.</summary>
    public TimeSpan TcpEstablished { get; init; } = TimeSpan.FromHours(24);

    /// <summary>FIN seen both ways, or RST: room for the last ACK and retransmits.</summary>
    public TimeSpan TcpClosing { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan Udp { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Protocols other than TCP and UDP (SCTP).</summary>
    public TimeSpan Generic { get; init; } = TimeSpan.FromSeconds(600);

    /// <summary>
    /// This configuration in <c>pr_config</c>'s form (whole seconds, at least 1: a zero would mean "the
    /// dataplane default"), keeping <paramref name="current"/>'s other fields (the socket LB mode, the hairpin address,
    /// the many-node fields: another writer's, whatever order they are written in).
    /// </summary>
    public DataplaneConfig ApplyTo(DataplaneConfig current) =>
        new DataplaneConfig(Seconds(TcpSyn), Seconds(TcpEstablished), Seconds(TcpClosing), Seconds(Udp), Seconds(Generic), current.SocketLbMode,
            current.HairpinAddressNbo).WithMultiNode(current.MultiNode).WithDirectMask(current.DirectMask4);

    /// <summary>The timeouts a <c>pr_config</c> entry makes the dataplane apply (zero fields: the <c>PR_DEFAULT_*</c>).</summary>
    public static ConntrackTimeouts FromConfig(DataplaneConfig config)
    {
        var defaults = DataplaneConfig.Default;
        static TimeSpan Or(uint seconds, uint fallback) => TimeSpan.FromSeconds(seconds != 0 ? seconds : fallback);
        return new ConntrackTimeouts
        {
            TcpSyn = Or(config.TcpSynTimeoutSeconds, defaults.TcpSynTimeoutSeconds),
            TcpEstablished = Or(config.TcpEstablishedTimeoutSeconds, defaults.TcpEstablishedTimeoutSeconds),
            TcpClosing = Or(config.TcpClosingTimeoutSeconds, defaults.TcpClosingTimeoutSeconds),
            Udp = Or(config.UdpTimeoutSeconds, defaults.UdpTimeoutSeconds),
            Generic = Or(config.GenericTimeoutSeconds, defaults.GenericTimeoutSeconds),
        };
    }

    /// <summary>
    /// The idle timeout of an entry in nanoseconds: <c>pr_ct_timeout_ns(proto, v)</c>, by its TCP state, and for a closed
    /// SNATed flow raised to the backend's TIME_WAIT (<see cref="SnatTimeWait.ClosedTimeoutSeconds"/>).
    /// </summary>
    public ulong TimeoutNs(byte protocol, in ConntrackValue4 value) =>
        protocol == (byte)L4Protocol.Tcp && value.TcpState == ConntrackTcpState.Closed
            ? SnatTimeWait.ClosedTimeoutSeconds(Seconds(TcpClosing), value) * NsPerSecond
            : TimeoutNs(protocol, value.TcpState);

    /// <summary>The idle timeout by protocol and TCP state alone (no SNAT flow: see the overload that takes the entry).</summary>
    public ulong TimeoutNs(byte protocol, ConntrackTcpState tcpState)
    {
        var timeout = protocol switch
        {
            (byte)L4Protocol.Tcp => tcpState switch
            {
                ConntrackTcpState.SynSent => TcpSyn,
                ConntrackTcpState.Closed => TcpClosing,
                _ => TcpEstablished, // established, closing (half closed), or an unknown state
            },
            (byte)L4Protocol.Udp => Udp,
            _ => Generic,
        };
        return Seconds(timeout) * NsPerSecond;
    }

    /// <summary>
    /// Whether the dataplane treats the entry as expired at <paramref name="nowNs"/> (CLOCK_MONOTONIC):
    /// <c>now &gt; last_seen &amp;&amp; now - last_seen &gt; timeout</c>, as <c>pr_ct_age</c> decides. A last_seen
    /// ahead of now (another CPU just touched it) is alive; exactly the timeout is still alive.
    /// </summary>
    public bool IsExpired(byte protocol, in ConntrackValue4 value, ulong nowNs) =>
        nowNs > value.LastSeenNs && nowNs - value.LastSeenNs > TimeoutNs(protocol, value);

    /// <summary>Whole seconds, rounded up, at least 1 and at most uint.MaxValue.</summary>
    internal static uint Seconds(TimeSpan timeout) =>
        (uint)Math.Clamp(Math.Ceiling(timeout.TotalSeconds), 1, uint.MaxValue);
}
