using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// The only writer of the NAT frontend and backend maps. Each sync builds the desired entries from
/// a snapshot, diffs them against the maps and applies the writes in make-before-break order.
/// A full sync re-reads the maps first, so entries changed behind our back are repaired; an
/// incremental sync trusts the view kept from the previous one. A failed write is reported and
/// the rest continue, guarded so that no frontend ever counts a backend that is not there; the
/// differences left behind are retried by the next sync.
/// </summary>
public sealed partial class Syncer
{
    private readonly IBpfMap<NatFrontendKey4, NatFrontendValue> _frontends;
    private readonly IBpfMap<NatBackendKey, NatBackendValue4> _backends;
    private readonly ServiceIdAllocator _ids;
    private readonly ILogger _logger;
    private const int BatchSize = 4096;

    private NatMapContents? _view;
    private ServiceSnapshot? _cleanSnapshot;

    public Syncer(
        IBpfMap<NatFrontendKey4, NatFrontendValue> frontends,
        IBpfMap<NatBackendKey, NatBackendValue4> backends,
        ServiceIdAllocator? ids = null,
        ILogger<Syncer>? logger = null)
    {
        _frontends = frontends;
        _backends = backends;
        _ids = ids ?? new ServiceIdAllocator();
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    public ServiceIdAllocator Ids => _ids;

    /// <summary>
    /// Brings the maps to the state of <paramref name="snapshot"/>, rebuilding the whole desired state. The first
    /// sync is always full. See <see cref="Sync(TrackerCommit, bool)"/> for the incremental fast path.
    /// </summary>
    public SyncResult Sync(ServiceSnapshot snapshot, bool fullResync = true) => Sync(snapshot, fullResync, null, null);

    /// <summary>
    /// Syncs a tracker commit. Incrementally, when the commit follows the snapshot this Syncer applied last
    /// (and that sync was clean), only the Services it changed are rebuilt where that is exact.
    /// </summary>
    public SyncResult Sync(TrackerCommit commit, bool fullResync)
    {
        ArgumentNullException.ThrowIfNull(commit);
        return Sync(commit.Snapshot, fullResync, commit.Previous, commit.ChangedServices);
    }

    private SyncResult Sync(ServiceSnapshot snapshot, bool fullResync, ServiceSnapshot? previous, IReadOnlySet<ObjectKey>? changedServices)
    {
        if (fullResync || _view is null)
            _view = NatMapContents.Read(_frontends, _backends);
        var view = _view;
        var clean = _cleanSnapshot;
        _cleanSnapshot = null; // until this sync has finished without a problem

        // Only a commit made right on top of the last clean snapshot lists every change since then.
        var partial = !fullResync && clean is not null && changedServices is not null && ReferenceEquals(previous, clean)
            ? EndpointChangeBuilder.TryBuild(clean, snapshot, changedServices, _ids, view)
            : null;
        IReadOnlyList<MapWrite> writes;
        IReadOnlyDictionary<uint, ServicePortKey> owners;
        IReadOnlyList<string> conflicts;
        if (partial is not null)
            (writes, owners, conflicts) = (partial.Writes, partial.Owners, []);
        else
        {
            var desired = DesiredStateBuilder.Build(snapshot, _ids, view);
            (writes, owners, conflicts) = (MapDiff.Compute(desired.Maps, view), desired.Owners, desired.Problems);
        }

        var result = Apply(writes, owners, conflicts, view, partial?.Ids);
        // The endpoint-only path relies on the maps holding exactly the desired state of the last sync.
        _cleanSnapshot = result.Problems.Count == 0 ? snapshot : null;
        LogSynced(_logger, result.Applied.Count, result.Problems.Count, fullResync);
        return result;
    }

    /// <summary>
    /// Applies ordered writes, keeping make before break true when some fail: a frontend is published with at
    /// most the count of backend ordinals really present, and a backend that a frontend still counts is not
    /// deleted. Runs of upserts go to the kernel as batches; a failed batch is retried entry by entry, so each
    /// failure is reported (and kept out of the view) exactly as a single write's would be.
    /// </summary>
    private SyncResult Apply(IReadOnlyList<MapWrite> writes, IReadOnlyDictionary<uint, ServicePortKey> owners,
        IReadOnlyList<string> conflicts, NatMapContents view, IReadOnlySet<uint>? onlyIds)
    {
        var problems = new List<SyncProblem>();
        var applied = new List<MapWrite>(writes.Count);
        foreach (var conflict in conflicts)
            Report(new SyncProblem(SyncProblemKind.Conflict, conflict));
        Dictionary<uint, uint>? countedByFrontends = null;

        for (var i = 0; i < writes.Count;)
        {
            switch (writes[i])
            {
                case UpsertBackend:
                    var backends = TakeRun<UpsertBackend>(writes, ref i);
                    ApplyBatch(backends, write => write.Key, write => write.Value, _backends, view.Backends);
                    break;

                case UpsertFrontend:
                    // A failed backend write leaves a gap: publish only the dense prefix that is really there.
                    var frontends = new List<UpsertFrontend>();
                    foreach (var write in TakeRun<UpsertFrontend>(writes, ref i))
                    {
                        var value = write.Value;
                        var present = view.PresentBackendPrefix(value.ServiceId);
                        if (value.BackendCount > present)
                        {
                            var safe = new NatFrontendValue(value.ServiceId, present, value.Flags, value.AffinityTimeoutSeconds);
                            Report(new SyncProblem(SyncProblemKind.Deferred,
                                $"backend count held at {present} of {value.BackendCount}: backends missing", write, OwnerOf(write)));
                            if (view.Frontends.TryGetValue(write.Key, out var existing) && existing == safe)
                                continue;
                            frontends.Add(new UpsertFrontend(write.Key, safe));
                        }
                        else
                            frontends.Add(write);
                    }
                    ApplyBatch(frontends, write => write.Key, write => write.Value, _frontends, view.Frontends);
                    break;

                case DeleteFrontend(var frontendKey, _) write:
                    ApplyOne(write, () => _frontends.Delete(frontendKey), () => view.Frontends.Remove(frontendKey));
                    i++;
                    break;

                case DeleteBackend(var backendKey) write:
                    // Frontends are final by now; a frontend whose update or delete failed may still count this backend.
                    countedByFrontends ??= view.Frontends.Values
                        .Where(value => onlyIds is null || onlyIds.Contains(value.ServiceId))
                        .GroupBy(value => value.ServiceId)
                        .ToDictionary(group => group.Key, group => group.Max(value => value.BackendCount));
                    if (countedByFrontends.TryGetValue(backendKey.ServiceId, out var counted) && backendKey.Ordinal < counted)
                        Report(new SyncProblem(SyncProblemKind.Deferred,
                            $"a frontend still counts {counted} backends for this id", write, OwnerOf(write)));
                    else
                        ApplyOne(write, () => _backends.Delete(backendKey), () => view.Backends.Remove(backendKey));
                    i++;
                    break;

                default:
                    throw new InvalidOperationException($"unknown map write {writes[i]}");
            }
        }
        return new SyncResult(applied, problems);

        ServicePortKey? OwnerOf(MapWrite write) => owners.TryGetValue(write.ServiceId, out var key) ? key : null;

        void ApplyBatch<TWrite, TKey, TValue>(List<TWrite> batch, Func<TWrite, TKey> keyOf, Func<TWrite, TValue> valueOf,
            IBpfMap<TKey, TValue> map, Dictionary<TKey, TValue> recorded)
            where TWrite : MapWrite
            where TKey : unmanaged, IEquatable<TKey>
            where TValue : unmanaged
        {
            for (var start = 0; start < batch.Count; start += BatchSize)
            {
                var chunk = batch.GetRange(start, Math.Min(BatchSize, batch.Count - start));
                var keys = chunk.Select(keyOf).ToArray();
                var values = chunk.Select(valueOf).ToArray();
                try
                {
                    map.UpdateBatch(keys, values);
                }
                catch (BpfException)
                {
                    // Some entries of the batch may be written; BPF_ANY writes are idempotent, so redo them one by one.
                    for (var k = 0; k < chunk.Count; k++)
                    {
                        var (key, value) = (keys[k], values[k]);
                        ApplyOne(chunk[k], () => map.Update(key, value), () => recorded[key] = value);
                    }
                    continue;
                }
                for (var k = 0; k < chunk.Count; k++)
                    recorded[keys[k]] = values[k];
                applied.AddRange(chunk);
            }
        }

        void ApplyOne(MapWrite write, Action kernelWrite, Action recordInView)
        {
            try
            {
                kernelWrite();
                recordInView();
                applied.Add(write);
            }
            catch (BpfException error)
            {
                Report(new SyncProblem(SyncProblemKind.WriteFailed, error.Message, write, OwnerOf(write), error));
            }
        }

        void Report(SyncProblem problem)
        {
            problems.Add(problem);
            LogProblem(_logger, problem.Kind, problem.Service?.ToString() ?? "-", problem.Write?.ToString() ?? "-", problem.Reason);
        }
    }

    /// <summary>The writes of one kind from <paramref name="index"/> on (MapDiff groups them), advancing the index past them.</summary>
    private static List<T> TakeRun<T>(IReadOnlyList<MapWrite> writes, ref int index) where T : MapWrite
    {
        var run = new List<T>();
        while (index < writes.Count && writes[index] is T write)
        {
            run.Add(write);
            index++;
        }
        return run;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Synced NAT maps: {Writes} writes, {Problems} problems (full: {Full})")]
    private static partial void LogSynced(ILogger logger, int writes, int problems, bool full);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sync {Kind} for service {Service}: {Write}: {Reason}")]
    private static partial void LogProblem(ILogger logger, SyncProblemKind kind, string service, string write, string reason);
}
