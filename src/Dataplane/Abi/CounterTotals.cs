using ProxyReplacement.Dataplane.Maps;

namespace ProxyReplacement.Dataplane.Abi;

public static class CounterTotals
{
    /// <summary>pr_counters summed over all CPUs, for every <see cref="CounterReason"/>.</summary>
    public static IReadOnlyDictionary<CounterReason, ulong> Sum(BpfPerCpuArray<ulong> counters)
    {
        var totals = new Dictionary<CounterReason, ulong>();
        foreach (var reason in Enum.GetValues<CounterReason>())
        {
            ulong sum = 0;
            foreach (var perCpu in counters.Read((uint)reason))
                sum += perCpu;
            totals[reason] = sum;
        }
        return totals;
    }
}
