using System.Diagnostics;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Telemetry;
using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.ServiceProxy.Daemon;

/// <summary>What one pass did: the commit it synced, the Syncer's result and how long it took.</summary>
public sealed record SyncOutcome(TrackerCommit Commit, SyncResult Result, TimeSpan Elapsed);

/// <summary>
/// One pass of the sync loop, without the kernel: commit the change tracker, sync the commit, and record it — kube-proxy's
/// sync metrics and ours, among them how the Syncer built its writes (<see cref="ProxyMetrics.RecordSyncPath"/>), and one trace (<see cref="ProxyActivitySources.Sync"/>: <c>sync</c> with
/// <c>commit</c>, and the Syncer's <c>read maps</c>, <c>build</c>, <c>diff</c>, <c>apply</c>).
/// </summary>
public sealed class SyncPass
{
    private readonly ChangeTracker _tracker;
    private readonly Syncer _syncer;
    private readonly ProxyMetrics _metrics;
    private readonly TimeProvider _time;

    public SyncPass(ChangeTracker tracker, Syncer syncer, ProxyMetrics metrics, TimeProvider? time = null)
    {
        _tracker = tracker;
        _syncer = syncer;
        _metrics = metrics;
        _time = time ?? TimeProvider.System;
    }

    public Syncer Syncer => _syncer;

    /// <param name="full">A full resync (maps re-read, drift repaired) rather than a triggered one.</param>
    /// <param name="alsoInside">More work of the same pass after the Syncer (conntrack purges, the daemon's Service CIDRs), traced and timed with it.</param>
    /// <param name="beforeSync">Adjusts the commit before the Syncer sees it (the backend capacity gate).</param>
    public SyncOutcome Run(bool full, Action<TrackerCommit>? alsoInside = null, Func<TrackerCommit, TrackerCommit>? beforeSync = null)
    {
        var started = Stopwatch.GetTimestamp();
        using var activity = ProxyActivitySources.Sync.StartActivity("sync");
        activity?.SetTag("sync.kind", full ? "full" : "triggered");

        TrackerCommit commit;
        using (var span = ProxyActivitySources.Sync.StartActivity("commit"))
        {
            commit = _tracker.Commit();
            if (beforeSync is not null)
                commit = beforeSync(commit);
            span?.SetTag("services.changed", commit.ChangedServices.Count);
            span?.SetTag("trigger_times", commit.TriggerTimes.Count);
        }
        var result = _syncer.Sync(commit, fullResync: full);
        var path = _syncer.LastPath;
        alsoInside?.Invoke(commit);
        var elapsed = Stopwatch.GetElapsedTime(started);

        var seconds = elapsed.TotalSeconds;
        _metrics.SyncDuration.Record(seconds);
        (full ? _metrics.FullSyncDuration : _metrics.PartialSyncDuration).Record(seconds);
        (full ? _metrics.SyncsFull : _metrics.SyncsTriggered).Increment();
        _metrics.SyncWrites.Increment(result.Applied.Count);
        _metrics.RecordSyncPath(path);
        _metrics.SyncProblems.Increment(result.Problems.Count);
        _metrics.Services.Set(commit.Snapshot.Services.Count);
        var now = _time.GetUtcNow();
        // A conflict (two Services on one VIP:port) is the input's problem and stays until the input changes; a failed
        // or deferred write means the maps are not what the snapshot asks for yet.
        var programmed = result.Problems.All(problem => problem.Kind == SyncProblemKind.Conflict);
        if (programmed)
        {
            _metrics.RecordSyncTime(now);
            foreach (var trigger in commit.TriggerTimes)
                _metrics.NetworkProgrammingDuration.Record(Math.Max(0, (now - trigger).TotalSeconds));
        }

        if (activity is not null)
        {
            activity.SetTag("services", commit.Snapshot.Services.Count);
            activity.SetTag("services.changed", commit.ChangedServices.Count);
            activity.SetTag("sync.path", path.ToString());
            activity.SetTag("writes", result.Applied.Count);
            activity.SetTag("problems", result.Problems.Count);
            if (result.Problems.Count > 0)
                activity.SetStatus(programmed ? ActivityStatusCode.Unset : ActivityStatusCode.Error,
                    string.Join("; ", result.Problems.Take(3)));
        }
        return new SyncOutcome(commit, result, elapsed);
    }
}
