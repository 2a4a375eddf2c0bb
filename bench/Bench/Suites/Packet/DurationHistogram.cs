namespace ProxyReplacement.Bench.Suites.Packet;

/// <summary>
/// Kernel-reported durations of single program runs (whole nanoseconds), kept as counts per nanosecond so a
/// million samples cost no memory. The median ignores the runs an interrupt or a reschedule landed in.
/// </summary>
public sealed class DurationHistogram
{
    private const int Buckets = 1 << 16;
    private readonly long[] _counts = new long[Buckets];

    public long Count { get; private set; }

    public void Add(uint durationNs)
    {
        _counts[Math.Min(durationNs, Buckets - 1)]++;
        Count++;
    }

    public double Median()
    {
        if (Count == 0)
            throw new InvalidOperationException("no samples");
        // the mean of the two middle samples when the count is even
        var lowRank = (Count - 1) / 2;
        var highRank = Count / 2;
        double? low = null;
        long seen = 0;
        for (var ns = 0; ns < Buckets; ns++)
        {
            seen += _counts[ns];
            if (low is null && seen > lowRank)
                low = ns;
            if (seen > highRank)
                return (low!.Value + ns) / 2.0;
        }
        return Buckets - 1;
    }
}
