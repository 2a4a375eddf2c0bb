using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Model;

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
    private NatMapContents? _view;

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

    /// <summary>Brings the maps to the state of <paramref name="snapshot"/>. The first sync is always full.</summary>
    public SyncResult Sync(ServiceSnapshot snapshot, bool fullResync = true)
    {
        if (fullResync || _view is null)
            _view = NatMapContents.Read(_frontends, _backends);
        var view = _view;

        var desired = DesiredStateBuilder.Build(snapshot, _ids, view);
        var problems = new List<SyncProblem>();
        var applied = new List<MapWrite>();
        foreach (var conflict in desired.Problems)
            Report(new SyncProblem(SyncProblemKind.Conflict, conflict));
        Dictionary<uint, uint>? countedByFrontends = null;

        foreach (var write in MapDiff.Compute(desired.Maps, view))
        {
            var owner = desired.Owners.TryGetValue(write.ServiceId, out var key) ? key : (ServicePortKey?)null;
            switch (write)
            {
                case UpsertBackend(var backendKey, var value):
                    Apply(write, owner, () => _backends.Update(backendKey, value), () => view.Backends[backendKey] = value);
                    break;

                case UpsertFrontend(var frontendKey, var value):
                    // A failed backend write leaves a gap: publish only the dense prefix that is really there.
                    var present = view.PresentBackendPrefix(value.ServiceId);
                    var safe = value;
                    if (value.BackendCount > present)
                    {
                        safe = new NatFrontendValue(value.ServiceId, present, value.Flags, value.AffinityTimeoutSeconds);
                        Report(new SyncProblem(SyncProblemKind.Deferred,
                            $"backend count held at {present} of {value.BackendCount}: backends missing", write, owner));
                        if (view.Frontends.TryGetValue(frontendKey, out var existing) && existing == safe)
                            break;
                    }
                    var safeWrite = new UpsertFrontend(frontendKey, safe);
                    Apply(safeWrite, owner, () => _frontends.Update(frontendKey, safe), () => view.Frontends[frontendKey] = safe);
                    break;

                case DeleteFrontend(var frontendKey, _):
                    Apply(write, owner, () => _frontends.Delete(frontendKey), () => view.Frontends.Remove(frontendKey));
                    break;

                case DeleteBackend(var backendKey):
                    // Frontends are final by now; a frontend whose update or delete failed may still count this backend.
                    countedByFrontends ??= view.Frontends.Values
                        .GroupBy(value => value.ServiceId)
                        .ToDictionary(group => group.Key, group => group.Max(value => value.BackendCount));
                    if (countedByFrontends.TryGetValue(backendKey.ServiceId, out var counted) && backendKey.Ordinal < counted)
                    {
                        Report(new SyncProblem(SyncProblemKind.Deferred,
                            $"a frontend still counts {counted} backends for this id", write, owner));
                        break;
                    }
                    Apply(write, owner, () => _backends.Delete(backendKey), () => view.Backends.Remove(backendKey));
                    break;
            }
        }

        LogSynced(_logger, applied.Count, problems.Count, fullResync);
        return new SyncResult(applied, problems);

        void Apply(MapWrite write, ServicePortKey? owner, Action kernelWrite, Action recordInView)
        {
            try
            {
                kernelWrite();
                recordInView();
                applied.Add(write);
            }
            catch (BpfException error)
            {
                Report(new SyncProblem(SyncProblemKind.WriteFailed, error.Message, write, owner, error));
            }
        }

        void Report(SyncProblem problem)
        {
            problems.Add(problem);
            LogProblem(_logger, problem.Kind, problem.Service?.ToString() ?? "-", problem.Write?.ToString() ?? "-", problem.Reason);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Synced NAT maps: {Writes} writes, {Problems} problems (full: {Full})")]
    private static partial void LogSynced(ILogger logger, int writes, int problems, bool full);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sync {Kind} for service {Service}: {Write}: {Reason}")]
    private static partial void LogProblem(ILogger logger, SyncProblemKind kind, string service, string write, string reason);
}
