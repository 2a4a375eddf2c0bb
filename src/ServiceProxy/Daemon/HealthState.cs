namespace ProxyReplacement.ServiceProxy.Daemon;

/// <summary>
/// What /healthz and /readyz report. Ready once the source delivered its first complete view and
/// that view is in the maps. Healthy while syncs keep happening: the last one is no older than the
/// full-resync period plus a margin (like kube-proxy's healthz timeout). The source's condition is
/// reported beside both but changes neither: a proxy whose API server is down keeps serving its last
/// state, and a liveness probe must not kill it for that.
/// </summary>
public sealed class HealthState(TimeProvider time, TimeSpan syncPeriod)
{
    private long _lastSyncTicks;
    private volatile bool _ready;
    private volatile SourceCondition _source = SourceCondition.Ok;

    public bool Ready => _ready;

    /// <summary>What the source last reported about itself.</summary>
    public SourceCondition Source => _source;

    public void ReportSource(SourceCondition condition) => _source = condition;

    public DateTimeOffset? LastSync
    {
        get
        {
            var ticks = Interlocked.Read(ref _lastSyncTicks);
            return ticks == 0 ? null : new DateTimeOffset(ticks, TimeSpan.Zero);
        }
    }

    public void RecordSync()
    {
        Interlocked.Exchange(ref _lastSyncTicks, time.GetUtcNow().UtcTicks);
        _ready = true;
    }

    public bool Healthy =>
        LastSync is { } last && time.GetUtcNow() - last <= syncPeriod * 2 + TimeSpan.FromSeconds(5);

    public DateTimeOffset Now => time.GetUtcNow();
}
