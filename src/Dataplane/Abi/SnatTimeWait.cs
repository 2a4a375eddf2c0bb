namespace ProxyReplacement.Dataplane.Abi;

/// <summary>
/// <c>PR_SNAT_TIME_WAIT_S</c> and <c>pr_ct_holds_snat_time_wait</c> (bpf-c/include/pr_map_abi.h, pr_conntrack.h): a SNATed TCP
/// flow closed by FINs both ways keeps its conntrack entries, and so its port of the SNAT range, for at least
/// <see cref="Seconds"/> after its last packet, the backend's TIME_WAIT (60 s on Linux) with margin. Reused sooner, the
/// tuple {backend:port, node:SNAT port} still in TIME_WAIT on the backend makes it refuse about half the new flows' SYNs
/// (PAWS), each costing the client a 1 s SYN retransmission. Every reader of conntrack timeouts (the dataplane's expiry,
/// the sweeper, <c>explain</c>) applies it the same way: <see cref="ClosedTimeoutSeconds"/>.
/// </summary>
public static class SnatTimeWait
{
    /// <summary><c>PR_SNAT_TIME_WAIT_S</c>.</summary>
    public const uint Seconds = 70;

    /// <summary><c>PR_CT_FIN_FROM_CLIENT</c>, <c>PR_CT_FIN_FROM_BACKEND</c>: the bits of <see cref="ConntrackValue4.FinSeen"/>.</summary>
    public const byte FinFromClient = 1 << 0, FinFromBackend = 1 << 1;

    /// <summary>
    /// <c>pr_ct_holds_snat_time_wait</c>: a SNATed flow's entry (forward or reverse), closed by FINs both ways. A flow
    /// ended by RST leaves no TIME_WAIT on the backend and keeps the plain closing timeout.
    /// </summary>
    public static bool Holds(in ConntrackValue4 value) =>
        value.FlowFlags.HasFlag(ConntrackFlags.Snat) && value.TcpState == ConntrackTcpState.Closed &&
        value.FinSeen == (FinFromClient | FinFromBackend);

    /// <summary>The idle timeout of a closed TCP entry: the configured closing timeout, raised to <see cref="Seconds"/> when <see cref="Holds"/>.</summary>
    public static uint ClosedTimeoutSeconds(uint closingTimeoutSeconds, in ConntrackValue4 value) =>
        Holds(value) ? Math.Max(closingTimeoutSeconds, Seconds) : closingTimeoutSeconds;
}
