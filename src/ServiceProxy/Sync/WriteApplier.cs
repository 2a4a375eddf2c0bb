using Microsoft.Extensions.Logging;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// Applies one sync's ordered writes (see <see cref="Syncer"/>), keeping make before break true when some fail: a
/// frontend is published with at most the count of backend ordinals really present, and a backend that a frontend
/// still counts is not deleted. Runs of upserts go to the kernel as batches; a failed batch is redone entry by entry,
/// so each failure is reported (and kept out of the view) exactly as a single write's would be. The view records
/// every write that reached the maps. One instance per sync.
/// </summary>
internal sealed partial class WriteApplier
{
    private const int BatchSize = 4096;

    /// <summary>Writes from which the view is sized ahead (see <see cref="Batch{TKey,TValue}"/>).</summary>
    private const int BulkEntries = 1024;

    private readonly IBpfMap<NatFrontendKey4, NatFrontendValue> _frontends;
    private readonly IBpfMap<NatBackendKey, NatBackendValue4> _backends;
    private readonly NatMapContents _view;
    private readonly IReadOnlyDictionary<uint, ServicePortKey> _owners;
    private readonly ILogger _logger;
    private readonly List<MapWrite> _applied = [];
    private readonly List<SyncProblem> _problems = [];

    public WriteApplier(IBpfMap<NatFrontendKey4, NatFrontendValue> frontends, IBpfMap<NatBackendKey, NatBackendValue4> backends,
        NatMapContents view, IReadOnlyDictionary<uint, ServicePortKey> owners, ILogger logger)
    {
        _frontends = frontends;
        _backends = backends;
        _view = view;
        _owners = owners;
        _logger = logger;
    }

    /// <param name="onlyIds">When only some Services were rebuilt: the ids whose frontends can count a deleted backend.</param>
    /// <param name="onlyFrontends">With <paramref name="onlyIds"/>: the frontend keys where those ids' frontends can be (so the
    /// check looks at those, not at every frontend).</param>
    /// <param name="betweenHalves">Called once, after the make half (backend and frontend upserts) and before the break half
    /// (frontend and backend deletes): where the fast path's new copies go (<see cref="DirectTable"/>).</param>
    public SyncResult Apply(IReadOnlyList<MapWrite> writes, IReadOnlyList<string> conflicts, IReadOnlySet<uint>? onlyIds,
        IReadOnlyCollection<NatFrontendKey4>? onlyFrontends = null, Action? betweenHalves = null)
    {
        _applied.Capacity = writes.Count;
        foreach (var conflict in conflicts)
            Report(new SyncProblem(SyncProblemKind.Conflict, conflict));
        Dictionary<uint, (uint Cluster, uint Local)>? countedByFrontends = null;

        for (var i = 0; i < writes.Count;)
        {
            if (betweenHalves is not null && writes[i] is DeleteFrontend or DeleteBackend)
            {
                betweenHalves();
                betweenHalves = null;
            }
            switch (writes[i])
            {
                case UpsertBackend:
                    i = UpsertBackends(writes, i);
                    break;

                case UpsertFrontend:
                    i = UpsertFrontends(writes, i);
                    break;

                case DeleteFrontend(var key, _) write:
                    Delete(write, _frontends, _view.Frontends, key);
                    i++;
                    break;

                case DeleteBackend(var key) write:
                    // Frontends are final by now; a frontend whose update or delete failed may still count this backend.
                    countedByFrontends ??= CountedByFrontends(onlyIds, onlyFrontends);
                    if (countedByFrontends.TryGetValue(key.ServiceId, out var counted) && (key.Ordinal >= NatFrontendValue.LocalOrdinalBase
                            ? key.Ordinal - NatFrontendValue.LocalOrdinalBase < counted.Local
                            : key.Ordinal < counted.Cluster))
                        Report(new SyncProblem(SyncProblemKind.Deferred, $"a frontend still counts {counted} backends for this id", write, OwnerOf(write)));
                    else
                        Delete(write, _backends, _view.Backends, key);
                    i++;
                    break;

                default:
                    throw new InvalidOperationException($"unknown map write {writes[i]}");
            }
        }
        betweenHalves?.Invoke(); // no break half
        return new SyncResult(_applied, _problems);
    }

    /// <summary>The run of backend upserts from <paramref name="start"/> (MapDiff groups them); returns the index after it.</summary>
    private int UpsertBackends(IReadOnlyList<MapWrite> writes, int start)
    {
        var end = RunEnd<UpsertBackend>(writes, start);
        var batch = new Batch<NatBackendKey, NatBackendValue4>(this, _backends, _view.Backends, end - start);
        for (var i = start; i < end; i++)
        {
            var write = (UpsertBackend)writes[i];
            batch.Add(write, write.Key, write.Value);
        }
        batch.Flush();
        return end;
    }

    /// <summary>The run of frontend upserts from <paramref name="start"/>; returns the index after it.</summary>
    private int UpsertFrontends(IReadOnlyList<MapWrite> writes, int start)
    {
        var end = RunEnd<UpsertFrontend>(writes, start);
        var batch = new Batch<NatFrontendKey4, NatFrontendValue>(this, _frontends, _view.Frontends, end - start);
        for (var i = start; i < end; i++)
        {
            var write = (UpsertFrontend)writes[i];
            var value = write.Value;
            // A failed backend write leaves a gap: publish only the dense prefix of each set that is really there.
            var present = _view.PresentBackendPrefix(value.ServiceId, atMost: value.BackendCount);
            var presentLocal = value.LocalCount == 0 ? 0
                : _view.PresentBackendPrefix(value.ServiceId, atMost: value.LocalCount, first: NatFrontendValue.LocalOrdinalBase);
            if (present < value.BackendCount || presentLocal < value.LocalCount)
            {
                var safe = value.WithCounts(present, presentLocal);
                Report(new SyncProblem(SyncProblemKind.Deferred,
                    $"backend count held at {present} of {value.BackendCount} (local {presentLocal} of {value.LocalCount}): backends missing",
                    write, OwnerOf(write)));
                if (_view.Frontends.TryGetValue(write.Key, out var existing) && existing == safe)
                    continue;
                batch.Add(new UpsertFrontend(write.Key, safe), write.Key, safe);
            }
            else
                batch.Add(write, write.Key, value);
        }
        batch.Flush();
        return end;
    }

    private void Delete<TKey, TValue>(MapWrite write, IBpfMap<TKey, TValue> map, Dictionary<TKey, TValue> recorded, TKey key)
        where TKey : unmanaged, IEquatable<TKey>
        where TValue : unmanaged
    {
        try
        {
            map.Delete(key);
            recorded.Remove(key);
            _applied.Add(write);
        }
        catch (BpfException error)
        {
            ReportFailure(write, error);
        }
    }

    private static int RunEnd<T>(IReadOnlyList<MapWrite> writes, int start) where T : MapWrite
    {
        var end = start;
        while (end < writes.Count && writes[end] is T)
            end++;
        return end;
    }

    /// <summary>
    /// The highest backend counts (cluster, local) any frontend of each id publishes (of <paramref name="onlyIds"/>, when given;
    /// looking only at <paramref name="onlyFrontends"/>, when given).
    /// </summary>
    private Dictionary<uint, (uint Cluster, uint Local)> CountedByFrontends(IReadOnlySet<uint>? onlyIds, IReadOnlyCollection<NatFrontendKey4>? onlyFrontends)
    {
        var counted = new Dictionary<uint, (uint Cluster, uint Local)>();
        if (onlyIds is not null && onlyFrontends is not null)
        {
            foreach (var key in onlyFrontends)
                if (_view.Frontends.TryGetValue(key, out var value))
                    Count(value);
            return counted;
        }
        foreach (var value in _view.Frontends.Values)
            Count(value);
        return counted;

        void Count(NatFrontendValue value)
        {
            if (onlyIds is not null && !onlyIds.Contains(value.ServiceId))
                return;
            var highest = counted.GetValueOrDefault(value.ServiceId);
            counted[value.ServiceId] = (Math.Max(highest.Cluster, value.BackendCount), Math.Max(highest.Local, value.LocalCount));
        }
    }

    private ServicePortKey? OwnerOf(MapWrite write) => _owners.TryGetValue(write.ServiceId, out var key) ? key : null;

    private void ReportFailure(MapWrite write, BpfException error) =>
        Report(new SyncProblem(SyncProblemKind.WriteFailed, error.Message, write, OwnerOf(write), error));

    private void Report(SyncProblem problem)
    {
        _problems.Add(problem);
        LogProblem(_logger, problem.Kind, problem.Service?.ToString() ?? "-", problem.Write?.ToString() ?? "-", problem.Reason);
    }

    /// <summary>Upserts gathered for <c>BPF_MAP_UPDATE_BATCH</c> calls of up to <see cref="BatchSize"/> entries.</summary>
    private sealed class Batch<TKey, TValue>
        where TKey : unmanaged, IEquatable<TKey>
        where TValue : unmanaged
    {
        private readonly WriteApplier _applier;
        private readonly IBpfMap<TKey, TValue> _map;
        private readonly Dictionary<TKey, TValue> _recorded;
        private readonly MapWrite[] _writes;
        private readonly TKey[] _keys;
        private readonly TValue[] _values;
        private int _count;

        /// <param name="expected">How many writes will be added (at most); sizes the buffers and the view.</param>
        public Batch(WriteApplier applier, IBpfMap<TKey, TValue> map, Dictionary<TKey, TValue> recorded, int expected)
        {
            _applier = applier;
            _map = map;
            _recorded = recorded;
            var size = Math.Min(BatchSize, expected);
            _writes = new MapWrite[size];
            _keys = new TKey[size];
            _values = new TValue[size];
            // Sized ahead only for a bulk write: EnsureCapacity grows to the next prime (about 1.2×), so calling it for a few
            // entries would rehash the whole view every few syncs, where adding lets the dictionary double.
            if (expected > BulkEntries)
                recorded.EnsureCapacity(recorded.Count + expected);
        }

        public void Add(MapWrite write, TKey key, TValue value)
        {
            _writes[_count] = write;
            _keys[_count] = key;
            _values[_count] = value;
            if (++_count == _keys.Length)
                Flush();
        }

        public void Flush()
        {
            if (_count == 0)
                return;
            try
            {
                _map.UpdateBatch(_keys.AsSpan(0, _count), _values.AsSpan(0, _count));
            }
            catch (BpfException)
            {
                // Some entries of the batch may be written; BPF_ANY writes are idempotent, so redo them one by one.
                RedoOneByOne();
                _count = 0;
                return;
            }
            for (var k = 0; k < _count; k++)
            {
                _recorded[_keys[k]] = _values[k];
                _applier._applied.Add(_writes[k]);
            }
            _count = 0;
        }

        private void RedoOneByOne()
        {
            for (var k = 0; k < _count; k++)
            {
                try
                {
                    _map.Update(_keys[k], _values[k]);
                    _recorded[_keys[k]] = _values[k];
                    _applier._applied.Add(_writes[k]);
                }
                catch (BpfException error)
                {
                    _applier.ReportFailure(_writes[k], error);
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sync {Kind} for service {Service}: {Write}: {Reason}")]
    private static partial void LogProblem(ILogger logger, SyncProblemKind kind, string service, string write, string reason);
}
