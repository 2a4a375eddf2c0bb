namespace ProxyReplacement.ServiceProxy.Daemon;

/// <summary>
/// Gives memory back after a burst. The first sync (a cold start or a restart: every object just parsed
/// or listed) and any sync that rewrote a large part of the maps leave tens to hundreds of MiB of garbage
/// (YAML/JSON trees, old snapshots, diff lists) that the GC would otherwise keep committed until much
/// later, so the daemon's resident size after programming 10k Services would be about twice its live
/// data. A node agent is idle between bursts: one compacting, decommitting collection right after a burst
/// costs a pause of tens of milliseconds on the sync thread and keeps RSS close to what is really held.
/// A periodic resync is such a burst too, though it writes nothing: it re-reads both maps and rebuilds the whole
/// desired state (now in the drift check beside the sync thread, whose allocation the daemon adds to the run that takes
/// its verdict: <see cref="PeriodicDriftCheck.TakeCheckAllocation"/>), and what it allocated survives its many gen-0 collections into gen 2, where it stays until a full
/// collection (measured: at 100k Services the first resync took the daemon from 191 to 345 MiB for good). So a sync that
/// allocated at least as much as the heap held after the last reclaim (and at least <see cref="MinAllocatedBurstBytes"/>)
/// counts as a burst as well.
/// </summary>
public sealed class HeapReclaimer(int largeSyncWrites = HeapReclaimer.DefaultLargeSyncWrites)
{
    /// <summary>A sync with at least this many writes counts as a burst.</summary>
    public const int DefaultLargeSyncWrites = 5_000;

    /// <summary>Below this a sync's allocation never counts as a burst: a small cluster's resync is not worth a pause.</summary>
    public const long MinAllocatedBurstBytes = 16L << 20;

    private bool _firstSyncSeen;
    private long _heldAfterReclaim;

    /// <summary>
    /// True for the first sync, for syncs that applied at least the threshold of writes, and for syncs that allocated
    /// (<paramref name="bytesAllocated"/>) at least what the heap held after the last reclaim.
    /// </summary>
    public bool IsBurst(int writesApplied, long bytesAllocated = 0)
    {
        var first = !_firstSyncSeen;
        _firstSyncSeen = true;
        return first || writesApplied >= largeSyncWrites
            || (bytesAllocated >= MinAllocatedBurstBytes && bytesAllocated >= _heldAfterReclaim);
    }

    /// <summary>Collects when <see cref="IsBurst"/> says so; returns whether it did.</summary>
    public bool AfterSync(int writesApplied, long bytesAllocated = 0)
    {
        if (!IsBurst(writesApplied, bytesAllocated))
            return false;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        _heldAfterReclaim = GC.GetTotalMemory(forceFullCollection: false);
        return true;
    }

    /// <summary>What the heap held after the last reclaim (0 before the first).</summary>
    public long HeldAfterReclaim => _heldAfterReclaim;
}
