namespace ProxyReplacement.ServiceProxy.Daemon;

/// <summary>
/// Gives memory back after a burst. The first sync (a cold start or a restart: every object just parsed
/// or listed) and any sync that rewrote a large part of the maps leave tens to hundreds of MiB of garbage
/// (YAML/JSON trees, old snapshots, diff lists) that the GC would otherwise keep committed until much
/// later, so the daemon's resident size after programming 10k Services would be about twice its live
/// data. A node agent is idle between bursts: one compacting, decommitting collection right after a burst
/// costs a pause of tens of milliseconds on the sync thread and keeps RSS close to what is really held.
/// </summary>
public sealed class HeapReclaimer(int largeSyncWrites = HeapReclaimer.DefaultLargeSyncWrites)
{
    /// <summary>A sync with at least this many writes counts as a burst.</summary>
    public const int DefaultLargeSyncWrites = 5_000;

    private bool _firstSyncSeen;

    /// <summary>True for the first sync and for syncs that applied at least the threshold of writes.</summary>
    public bool IsBurst(int writesApplied)
    {
        var first = !_firstSyncSeen;
        _firstSyncSeen = true;
        return first || writesApplied >= largeSyncWrites;
    }

    /// <summary>Collects when <see cref="IsBurst"/> says so; returns whether it did.</summary>
    public bool AfterSync(int writesApplied)
    {
        if (!IsBurst(writesApplied))
            return false;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        return true;
    }
}
