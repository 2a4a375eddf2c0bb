using Microsoft.Extensions.Logging;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Daemon;

/// <summary>What the sync thread is to do about the last drift check: nothing, or a full resync to repair drift.</summary>
public enum DriftVerdict
{
    None,
    Repair,
}

/// <summary>
/// The periodic resync (kube-proxy's <c>syncPeriod</c>) without the stall. It used to be a full resync on the sync
/// thread: every map re-read, the whole desired state rebuilt and diffed, 90–400 ms at 10k Services, and any change
/// that arrived meanwhile waited for it (the p99 of changes in a rolling update was that stall). Now each periodic
/// run starts a <see cref="DriftCheck"/> on a thread-pool thread, with the map-fill count beside it, and returns; the
/// check's end triggers a run, whose <see cref="TakeVerdict"/> turns drift into a full resync (which repairs it, as
/// before). A check that a sync overtook (it wrote meanwhile) proves nothing and is dropped. The periodic run is a
/// full resync on the sync thread as before when the last sync was not clean, and when the maps have not been
/// verified for two periods (changes so frequent that every check was overtaken): drift is never left unchecked
/// longer than that. The sync thread calls everything here except the check itself.
/// </summary>
/// <param name="beside">More read-only work for the check's thread after the check (the daemon's map-fill count).</param>
/// <param name="trigger">Asks the sync loop for a run (the runner's trigger): called when a check has ended.</param>
public sealed partial class PeriodicDriftCheck(Syncer syncer, Action trigger, TimeSpan period, DriftCheckCounters counters,
    ILogger<PeriodicDriftCheck> logger, Action? beside = null, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private Task<(DriftCheck Check, DriftReport Report)>? _running;
    private DateTimeOffset _lastVerified = (time ?? TimeProvider.System).GetUtcNow();
    private bool _repair;
    private long _checkAllocation;

    /// <summary>Whether a check is in flight.</summary>
    public bool Running => _running is not null;

    /// <summary>
    /// Whether this periodic run may be a check rather than a full resync: the maps were verified within two periods.
    /// (A check still in flight counts as this period's.)
    /// </summary>
    public bool MayCheck => _time.GetUtcNow() - _lastVerified <= 2 * period;

    /// <summary>At the start of every run: the verdict of a finished check (once), or a repair still owed.</summary>
    public DriftVerdict TakeVerdict()
    {
        if (_running is { IsCompleted: true } done)
        {
            _running = null;
            if (done.IsFaulted)
            {
                counters.Failed.Increment();
                LogCheckFailed(logger, done.Exception!.GetBaseException());
                _repair = true;
            }
            else
            {
                var (check, report) = done.Result;
                _checkAllocation += report.AllocatedBytes;
                if (!syncer.IsCurrent(check))
                    counters.Superseded.Increment();
                else if (report.Drifted)
                {
                    counters.Drift.Increment();
                    LogDrift(logger, report.NatDifferences, report.SideDifferences, report.DirectDifferences, report.Elapsed.TotalMilliseconds);
                    _repair = true;
                }
                else
                {
                    counters.Clean.Increment();
                    _lastVerified = _time.GetUtcNow();
                    LogClean(logger, report.Services, report.Elapsed.TotalMilliseconds);
                }
            }
        }
        return _repair ? DriftVerdict.Repair : DriftVerdict.None;
    }

    /// <summary>
    /// At the end of a periodic run that was not a full resync: starts the check (unless one is in flight). When the
    /// last sync was not clean there is nothing to check against: a full resync is asked for instead.
    /// </summary>
    public void Start()
    {
        if (_running is not null)
            return;
        if (syncer.StartDriftCheck() is not { } check)
        {
            _repair = true;
            trigger();
            return;
        }
        _running = Task.Run(() =>
        {
            var report = check.Run();
            beside?.Invoke();
            return (check, report);
        });
        // Once it has ended (so that the run it triggers finds it completed), the sync thread takes the verdict.
        _running.ContinueWith(_ => trigger(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
    }

    /// <summary>
    /// What the checks whose verdicts were taken since the last call allocated (once): their garbage is the periodic resync's,
    /// for the daemon's heap reclaim (<see cref="HeapReclaimer"/>) to weigh as if the sync thread had allocated it.
    /// </summary>
    public long TakeCheckAllocation()
    {
        var allocated = _checkAllocation;
        _checkAllocation = 0;
        return allocated;
    }

    /// <summary>After a full resync on the sync thread: the maps were re-read and repaired.</summary>
    public void FullResyncDone()
    {
        _repair = false;
        _lastVerified = _time.GetUtcNow();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Drift: {Nat} NAT map entries, {Side} side-map entries and {Direct} fast-path slots differ from what the last sync wrote (found in {Milliseconds:F0} ms); repairing with a full resync")]
    private static partial void LogDrift(ILogger logger, int nat, int side, int direct, double milliseconds);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Drift check: the maps hold the last sync's {Services} services ({Milliseconds:F0} ms)")]
    private static partial void LogClean(ILogger logger, int services, double milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Drift check failed; repairing with a full resync")]
    private static partial void LogCheckFailed(ILogger logger, Exception error);
}
