using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Telemetry;
using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// The only writer of the NAT frontend and backend maps. Each sync builds the desired entries from
/// a snapshot, diffs them against the maps and applies the writes in make-before-break order.
/// A full sync re-reads the maps first, so entries changed behind our back are repaired; an
/// incremental sync trusts the view kept from the previous one. A failed write is reported and
/// the rest continue, guarded so that no frontend ever counts a backend that is not there; the
/// differences left behind are retried by the next sync. With a fast-path table (<see cref="DirectTable"/>) it also keeps
/// <c>pr_nat_direct4</c> equal to the slots of the desired state (<see cref="DirectSlots"/>), its writes placed around
/// the NAT writes (emptied slots before them, new copies between their make and break halves).
/// </summary>
public sealed partial class Syncer
{
    private readonly IBpfMap<NatFrontendKey4, NatFrontendValue> _frontends;
    private readonly IBpfMap<NatBackendKey, NatBackendValue4> _backends;
    private readonly ServiceIdAllocator _ids;
    private readonly ILogger _logger;
    private readonly SideMap<LbSourceRangeKey4, LbSourceRangeValue>? _sourceRanges;
    private readonly SideMap<uint, ServiceName, ServiceNameDigest>? _names;
    private readonly DirectTable? _direct;

    private NatMapContents? _view;
    private ServiceSnapshot? _cleanSnapshot;
    private ProblemIndex? _cleanProblems;
    private RebuildReason _uncleanReason = RebuildReason.FullResync;
    private readonly long[] _rebuilds = new long[Enum.GetValues<RebuildReason>().Length];
    private FrontendContext _context = FrontendContext.None;
    private long _generation;
    private long _sideWritesSeen;

    public Syncer(
        IBpfMap<NatFrontendKey4, NatFrontendValue> frontends,
        IBpfMap<NatBackendKey, NatBackendValue4> backends,
        ServiceIdAllocator? ids = null,
        ILogger<Syncer>? logger = null,
        IBpfMap<LbSourceRangeKey4, LbSourceRangeValue>? sourceRanges = null,
        IBpfMap<uint, ServiceName>? names = null,
        IBpfMap<uint, NatDirectEntry4>? direct = null,
        bool directStartsEmpty = false)
    {
        _direct = direct is null ? null : new DirectTable(direct, directStartsEmpty);
        _frontends = frontends;
        _backends = backends;
        _sourceRanges = sourceRanges is null ? null : new SideMap<LbSourceRangeKey4, LbSourceRangeValue>(sourceRanges);
        _names = names is null ? null : new SideMap<uint, ServiceName, ServiceNameDigest>(names, ServiceNameDigest.Of);
        _ids = ids ?? new ServiceIdAllocator();
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    public ServiceIdAllocator Ids => _ids;

    /// <summary>The fast-path table this Syncer keeps (null: the table is off, nothing written to it).</summary>
    public DirectTable? Direct => _direct;

    /// <summary>
    /// The node addresses and NodePort range the frontends are built with. Set it before a sync; a change makes the
    /// next sync rebuild every frontend (the incremental path assumes the frontends of the last clean sync).
    /// </summary>
    public FrontendContext Context
    {
        get => _context;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            if (value.Equals(_context))
                return;
            _context = value;
            _cleanSnapshot = null;
            _uncleanReason = RebuildReason.ContextChanged;
        }
    }

    /// <summary>
    /// A check of the maps against the last clean sync, to run off the sync thread (<see cref="DriftCheck"/>); null when
    /// the last sync was not clean (a problem, a new context, or none yet): then only a full resync will do.
    /// </summary>
    public DriftCheck? StartDriftCheck() =>
        _cleanSnapshot is null || _view is null
            ? null
            : new DriftCheck(_generation, _cleanSnapshot, _ids.Clone(), _context, _frontends, _backends, _sourceRanges, _names, _direct);

    /// <summary>Whether no sync has written since <paramref name="check"/> was made, so that its report describes the maps as they are.</summary>
    public bool IsCurrent(DriftCheck check) => check.Generation == _generation;

    /// <summary>How the last sync built its writes (incrementally, or a rebuild and why).</summary>
    public SyncPath LastPath { get; private set; }

    /// <summary>Syncs that took the incremental path (<see cref="ServiceChangeBuilder"/>).</summary>
    public long IncrementalSyncs { get; private set; }

    /// <summary>Syncs that rebuilt the whole desired state, for <paramref name="reason"/>.</summary>
    public long Rebuilds(RebuildReason reason) => _rebuilds[(int)reason];

    /// <summary>
    /// Brings the maps to the state of <paramref name="snapshot"/>, rebuilding the whole desired state. The first
    /// sync is always full. See <see cref="Sync(TrackerCommit, bool)"/> for the incremental fast path.
    /// </summary>
    public SyncResult Sync(ServiceSnapshot snapshot, bool fullResync = true) => Sync(snapshot, fullResync, null, null);

    /// <summary>
    /// Syncs a tracker commit. Incrementally, when the commit follows the snapshot this Syncer applied last (and that
    /// sync reported no problem but conflicts), only the Services it changed are rebuilt where that is exact
    /// (<see cref="ServiceChangeBuilder"/>); otherwise, or for a full resync, everything is (<see cref="LastPath"/> says which, and why).
    /// </summary>
    public SyncResult Sync(TrackerCommit commit, bool fullResync)
    {
        ArgumentNullException.ThrowIfNull(commit);
        return Sync(commit.Snapshot, fullResync, commit.Previous, commit.ChangedServices);
    }

    private SyncResult Sync(ServiceSnapshot snapshot, bool fullResync, ServiceSnapshot? previous, IReadOnlySet<ObjectKey>? changedServices)
    {
        var first = _view is null;
        if (fullResync || _view is null)
        {
            using var read = ProxyActivitySources.Sync.StartActivity("read maps");
            _view = NatMapContents.Read(_frontends, _backends);
            read?.SetTag("frontends", _view.Frontends.Count);
        }
        var view = _view;
        var (clean, cleanProblems) = (_cleanSnapshot, _cleanProblems);
        _cleanSnapshot = null; // until this sync has finished without a problem
        _cleanProblems = null;

        // Only a commit made right on top of the last clean snapshot lists every change since then.
        PartialSync? partial = null;
        RebuildReason? rebuild;
        if (fullResync || first)
            rebuild = RebuildReason.FullResync;
        else if (clean is null || cleanProblems is null)
            rebuild = _uncleanReason;
        else if (changedServices is null || !ReferenceEquals(previous, clean))
            rebuild = RebuildReason.NotOnTopOfLastSync;
        else
        {
            // The incremental path builds and diffs the changed Services in one step: its "diff" is part of "build".
            using var build = ProxyActivitySources.Sync.StartActivity("build");
            build?.SetTag("path", "incremental");
            build?.SetTag("services.changed", changedServices.Count);
            partial = ServiceChangeBuilder.TryBuild(clean, snapshot, changedServices, _ids, view, _context, cleanProblems, out var why);
            rebuild = partial is null ? why : null;
            build?.SetTag("taken", partial is not null);
            if (partial is null)
                build?.SetTag("rebuild.reason", new SyncPath(why, changedServices.Count).ReasonLabel);
        }
        LastPath = new SyncPath(rebuild, changedServices?.Count ?? 0);
        if (rebuild is { } reason)
            _rebuilds[(int)reason]++;
        else
            IncrementalSyncs++;

        IReadOnlyList<MapWrite> writes;
        IReadOnlyDictionary<uint, ServicePortKey> owners;
        IReadOnlyList<string> conflicts;
        ProblemIndex? problems;
        var sideProblems = new List<SyncProblem>();
        SideEntries? side = null;
        var delta = partial?.Side;
        var direct = DirectPlan.None;
        if (partial is not null)
        {
            (writes, owners, conflicts, problems) = (partial.Writes, partial.Owners, partial.Problems, cleanProblems);
            if (_direct is not null)
            {
                // Only the slots of the frontends this pass touches can change, each decided among those and the slot's
                // other qualifying frontends of the last sync (read before the writes change the view).
                var written = new WrittenNatContents(view, partial.Writes);
                var slots = DirectSlots.Recompute(partial.FrontendKeys, _direct.Before, written.FrontendOf, written.BackendOf, written.HasBackend,
                    _direct.Mask);
                direct = _direct.Plan(slots, DirectSlots.SlotsOf(partial.FrontendKeys, _direct.Mask), reread: false);
            }
            // As below, for the ranges of the Services this pass rebuilt.
            if (delta is not null && _sourceRanges?.AddAndChange(delta.SourceRanges, reread: false, sideProblems) is { Count: > 0 } failedRanges)
                writes = HoldBackSourceRangeFrontends(writes, failedRanges.Select(range => range.ServiceId).ToHashSet(), sideProblems);
        }
        else
        {
            DesiredState desired;
            using (var build = ProxyActivitySources.Sync.StartActivity("build"))
            {
                build?.SetTag("path", "rebuild");
                build?.SetTag("rebuild.reason", LastPath.ReasonLabel);
                build?.SetTag("services", snapshot.Services.Count);
                desired = DesiredStateBuilder.Build(snapshot, _ids, view, _context);
            }
            using (var diff = ProxyActivitySources.Sync.StartActivity("diff"))
            {
                (writes, owners, conflicts, problems) = (MapDiff.Compute(desired.Maps, view), desired.Owners, desired.Problems, desired.Index);
                if (_direct is not null)
                    direct = _direct.Plan(DirectSlots.Compute(desired.Maps, _direct.Mask), only: null, reread: fullResync);
                diff?.SetTag("writes", writes.Count);
            }
            side = SideEntries.Of(snapshot, desired.Owners);
            // A new source-range frontend must find its ranges already there: it would drop every client otherwise. When
            // a range could not be written, the frontends that would check it are held back (a new one stays unpublished,
            // an existing one keeps its current value) until a later sync gets the ranges in.
            if (_sourceRanges?.AddAndChange(side.SourceRanges, fullResync, sideProblems) is { Count: > 0 } failedRanges)
                writes = HoldBackSourceRangeFrontends(writes, failedRanges.Select(range => range.ServiceId).ToHashSet(), sideProblems);
        }

        SyncResult result;
        using (var apply = ProxyActivitySources.Sync.StartActivity("apply"))
        {
            // The fast path's slots around the NAT writes (see DirectTable): a slot whose frontend goes, stops qualifying or
            // loses the slot is emptied before any of them, so no new flow takes a copy the hash path no longer serves that
            // way; new copies are written once their backends and frontends are in and before the break half deletes
            // stale backends (and the conntrack of removed ones is purged after the sync), so no shrunk backend set is
            // read from a stale slot after its removed backends were purged.
            _direct?.ZeroFirst(direct, sideProblems);
            Action? betweenHalves = _direct is null ? null : () => _direct.WriteAfterMake(direct, sideProblems);
            result = new WriteApplier(_frontends, _backends, view, owners, _logger).Apply(writes, conflicts, partial?.Ids, partial?.FrontendKeys,
                betweenHalves);
            if (side is not null)
            {
                // A frontend whose update failed may still check its ranges: those stay until it no longer does.
                var checking = view.Frontends.Values.Where(value => value.Flags.HasFlag(FrontendFlags.SourceRanges))
                    .Select(value => value.ServiceId).ToHashSet();
                var withRanges = WrittenRangeIds(side.SourceRanges.Keys);
                _sourceRanges?.DeleteOthers(side.SourceRanges, sideProblems,
                    stillNeeded: range => checking.Contains(range.ServiceId) && !withRanges.Contains(range.ServiceId));
                _names?.AddAndChange(side.Names, fullResync, sideProblems);
                _names?.DeleteOthers(side.Names, sideProblems);
            }
            else if (delta is not null)
            {
                // The same for the Services this pass rebuilt: their frontends can only be at the keys it touched.
                var checking = new HashSet<uint>();
                foreach (var key in partial!.FrontendKeys)
                    if (view.Frontends.TryGetValue(key, out var value) && value.Flags.HasFlag(FrontendFlags.SourceRanges))
                        checking.Add(value.ServiceId);
                var withRanges = WrittenRangeIds(delta.SourceRanges.Keys);
                _sourceRanges?.Delete(delta.StaleSourceRanges, sideProblems,
                    stillNeeded: range => checking.Contains(range.ServiceId) && !withRanges.Contains(range.ServiceId));
                _names?.AddAndChange(delta.Names, reread: false, sideProblems);
                _names?.Delete(delta.StaleNames, sideProblems);
            }
            if (sideProblems.Count > 0)
                result = result with { Problems = [.. result.Problems, .. sideProblems] };
            apply?.SetTag("writes", result.Applied.Count);
            apply?.SetTag("problems", result.Problems.Count);
            if (result.Problems.Count > 0)
                apply?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, result.Problems[0].ToString());
        }
        // The incremental path relies on the maps holding exactly the desired state of the last sync. A conflict is the
        // snapshot's problem, not the maps': the maps hold that desired state all the same.
        if (result.Problems.All(problem => problem.Kind == SyncProblemKind.Conflict))
            (_cleanSnapshot, _cleanProblems) = (snapshot, problems);
        else
            _uncleanReason = RebuildReason.AfterProblems;
        // Any write (or a failed one, which may have half happened) makes a drift check made before it stale.
        var sideWrites = (_names?.Writes ?? 0) + (_sourceRanges?.Writes ?? 0) + (_direct?.Writes ?? 0);
        if (result.Applied.Count > 0 || sideWrites != _sideWritesSeen || result.Problems.Any(problem => problem.Kind != SyncProblemKind.Conflict))
            _generation++;
        _sideWritesSeen = sideWrites;
        LogSynced(_logger, result.Applied.Count, result.Problems.Count, fullResync);
        return result;
    }

    /// <summary>
    /// The ids with a desired source range that is in the map: a frontend of such an id still finds one of its ranges when
    /// the others go. A desired range whose write failed does not count (its id's old ranges must then stay while a
    /// frontend checks them: deleting them would drop every client).
    /// </summary>
    private HashSet<uint> WrittenRangeIds(IEnumerable<LbSourceRangeKey4> desired)
    {
        var ids = new HashSet<uint>();
        if (_sourceRanges is null)
            return ids;
        var written = _sourceRanges.View;
        foreach (var range in desired)
            if (written.ContainsKey(range))
                ids.Add(range.ServiceId);
        return ids;
    }

    private static List<MapWrite> HoldBackSourceRangeFrontends(IReadOnlyList<MapWrite> writes, HashSet<uint> ids, List<SyncProblem> problems)
    {
        var kept = new List<MapWrite>(writes.Count);
        foreach (var write in writes)
        {
            if (write is UpsertFrontend { Value: var value } && value.Flags.HasFlag(FrontendFlags.SourceRanges) && ids.Contains(value.ServiceId))
            {
                problems.Add(new SyncProblem(SyncProblemKind.Deferred, "held back: its source ranges could not be written", write));
                continue;
            }
            kept.Add(write);
        }
        return kept;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Synced NAT maps: {Writes} writes, {Problems} problems (full: {Full})")]
    private static partial void LogSynced(ILogger logger, int writes, int problems, bool full);
}
