using System.Diagnostics;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// What a <see cref="DriftCheck"/> found: how many NAT and side-map entries, and fast-path slots (<see cref="DirectTable"/>),
/// differ from the last clean sync's desired state.
/// </summary>
public sealed record DriftReport(int NatDifferences, int SideDifferences, int Services, TimeSpan Elapsed, long AllocatedBytes = 0,
    int DirectDifferences = 0)
{
    public bool Drifted => NatDifferences > 0 || SideDifferences > 0 || DirectDifferences > 0;
}

/// <summary>
/// The periodic resync's question, "do the maps still hold what the last sync wrote?", asked without holding up the
/// sync loop. A full resync answers it by re-reading every map, rebuilding the whole desired state and diffing, on
/// the sync thread: at 10k Services that is 90–400 ms (and tens of MB of garbage whose gen-2 collections pause
/// the daemon again), and a change that arrives meanwhile waits for all of it. The check does the same reads, build
/// and diff on any thread, against the snapshot of the last clean sync and a copy of its ids, writing nothing;
/// the sync thread keeps serving changes. Its answer holds only if no sync wrote meanwhile
/// (<see cref="Syncer.IsCurrent"/>): a write in between makes the maps and the check's snapshot disagree for a
/// reason that is not drift. Only drift sends the daemon to a full resync, which repairs it as before.
/// Made by <see cref="Syncer.StartDriftCheck"/>.
/// </summary>
public sealed class DriftCheck
{
    private readonly ServiceSnapshot _snapshot;
    private readonly ServiceIdAllocator _ids;
    private readonly FrontendContext _context;
    private readonly IBpfMap<NatFrontendKey4, NatFrontendValue> _frontends;
    private readonly IBpfMap<NatBackendKey, NatBackendValue4> _backends;
    private readonly SideMap<LbSourceRangeKey4, LbSourceRangeValue>? _sourceRanges;
    private readonly SideMap<uint, ServiceName, ServiceNameDigest>? _names;
    private readonly DirectTable? _direct;

    internal DriftCheck(long generation, ServiceSnapshot snapshot, ServiceIdAllocator ids, FrontendContext context,
        IBpfMap<NatFrontendKey4, NatFrontendValue> frontends, IBpfMap<NatBackendKey, NatBackendValue4> backends,
        SideMap<LbSourceRangeKey4, LbSourceRangeValue>? sourceRanges, SideMap<uint, ServiceName, ServiceNameDigest>? names,
        DirectTable? direct = null)
    {
        _direct = direct;
        Generation = generation;
        _snapshot = snapshot;
        _ids = ids;
        _context = context;
        _frontends = frontends;
        _backends = backends;
        _sourceRanges = sourceRanges;
        _names = names;
    }

    /// <summary>The Syncer's write generation when the check was made.</summary>
    public long Generation { get; }

    /// <summary>Reads the maps and compares them with the desired state of the checked snapshot. Writes nothing; any thread.</summary>
    public DriftReport Run()
    {
        var started = Stopwatch.GetTimestamp();
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var current = NatMapContents.Read(_frontends, _backends);
        var desired = DesiredStateBuilder.Build(_snapshot, _ids, current, _context);
        var nat = MapDiff.Compute(desired.Maps, current).Count;
        var side = 0;
        if (_sourceRanges is not null || _names is not null)
        {
            var entries = SideEntries.Of(_snapshot, desired.Owners);
            side += _sourceRanges?.Differences(entries.SourceRanges) ?? 0;
            side += _names?.Differences(entries.Names) ?? 0;
        }
        // The slots follow from the desired NAT entries; the table's view is the sync thread's, so only the map is read.
        var direct = _direct?.Differences(DirectSlots.Compute(desired.Maps, _direct.Mask).Entries) ?? 0;
        return new DriftReport(nat, side, _snapshot.Services.Count, Stopwatch.GetElapsedTime(started),
            GC.GetAllocatedBytesForCurrentThread() - allocatedBefore, direct);
    }
}
