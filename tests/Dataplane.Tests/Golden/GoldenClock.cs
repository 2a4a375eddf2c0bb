namespace ProxyReplacement.Dataplane.Tests.Golden;

/// <summary>
/// Conntrack and affinity timestamps for golden cases, on the clock the programs read (<see cref="Monotonic"/>).
/// Time is simulated by storing timestamps in the past (or, for <see cref="RecentNs"/>, the future).
/// </summary>
internal static class GoldenClock
{
    public const ulong Second = 1_000_000_000UL;

    public static ulong NowNs => Monotonic.NowNs();

    /// <summary>
    /// A last_seen ahead of the clock, as when another CPU touched the entry a hair later: within the coarse refresh
    /// interval (PR_CT_REFRESH_NS) however slowly the test runs, so the program neither refreshes nor expires it.
    /// </summary>
    public static ulong RecentNs => Monotonic.NowNs() + 3600 * Second;
}
