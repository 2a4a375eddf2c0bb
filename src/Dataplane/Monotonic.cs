using System.Runtime.InteropServices;
using ProxyReplacement.Dataplane.Interop;

namespace ProxyReplacement.Dataplane;

/// <summary>
/// CLOCK_MONOTONIC in nanoseconds: the clock of <c>bpf_ktime_get_ns()</c>, which stamps
/// conntrack and affinity entries. Compare map timestamps only with this.
/// </summary>
public static class Monotonic
{
    public static unsafe ulong NowNs()
    {
        Libc.Timespec time;
        if (Libc.clock_gettime(Libc.ClockMonotonic, &time) != 0)
            throw new BpfException("clock_gettime(CLOCK_MONOTONIC)", Marshal.GetLastPInvokeError());
        return (ulong)time.Seconds * 1_000_000_000UL + (ulong)time.Nanoseconds;
    }
}
