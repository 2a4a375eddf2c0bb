using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Tracking;

/// <summary>
/// The result of <see cref="ChangeTracker.Commit"/>: the new snapshot, the one it was made from, and the Services
/// that differ between the two.
/// </summary>
public sealed record TrackerCommit(ServiceSnapshot Snapshot, IReadOnlySet<ObjectKey> ChangedServices, ServiceSnapshot Previous)
{
    public bool HasChanges => ChangedServices.Count > 0;

    /// <summary>
    /// The <c>endpoints.kubernetes.io/last-change-trigger-time</c> of every EndpointSlice update in this commit (later
    /// than the tracker's start, as kube-proxy counts them): once the sync has written the commit, each one's age is a
    /// <c>kubeproxy_network_programming_duration_seconds</c> sample.
    /// </summary>
    public IReadOnlyList<DateTimeOffset> TriggerTimes { get; init; } = [];
}

/// <summary>kube-proxy's change counters: updates that changed something since the start, and those not yet committed.</summary>
public readonly record struct ChangeTrackerStats(long ServiceChanges, long EndpointChanges, int ServiceChangesPending, int EndpointChangesPending);

/// <summary>
/// Collects Service and EndpointSlice updates from a source (manifest directory, API watch) and
/// produces the next immutable <see cref="ServiceSnapshot"/>. Updates that change nothing are
/// dropped, so a resync or an unchanged file reload does not wake the Syncer. Thread-safe: sources
/// write while the sync loop commits.
/// </summary>
public sealed class ChangeTracker
{
    private readonly Lock _gate = new();
    private readonly ObjectChangeTracker<Service> _services = new();
    private readonly ObjectChangeTracker<EndpointSlice> _slices = new();
    private ServiceSnapshot _snapshot = ServiceSnapshot.Empty;
    private readonly DateTimeOffset _started;
    private List<DateTimeOffset> _triggerTimes = [];

    /// <param name="time">The clock whose start bounds the trigger times counted (older ones predate this proxy: a
    /// first list would report them as hours of latency).</param>
    public ChangeTracker(TimeProvider? time = null)
    {
        _started = (time ?? TimeProvider.System).GetUtcNow();
    }

    public ChangeTrackerStats Stats
    {
        get { lock (_gate) return new(_services.Changes, _slices.Changes, _services.PendingCount, _slices.PendingCount); }
    }

    /// <summary>The snapshot of the last commit.</summary>
    public ServiceSnapshot Snapshot
    {
        get { lock (_gate) return _snapshot; }
    }

    public bool HasPendingChanges
    {
        get { lock (_gate) return _services.HasPending || _slices.HasPending; }
    }

    public IReadOnlyList<ObjectChange<Service>> PendingServiceChanges
    {
        get { lock (_gate) return _services.Pending; }
    }

    public IReadOnlyList<ObjectChange<EndpointSlice>> PendingEndpointSliceChanges
    {
        get { lock (_gate) return _slices.Pending; }
    }

    /// <summary>Records a Service; false when it equals the newest known state (a no-op).</summary>
    public bool UpsertService(Service service)
    {
        lock (_gate) return _services.Set(service.Key, service);
    }

    public bool DeleteService(ObjectKey key)
    {
        lock (_gate) return _services.Set(key, null);
    }

    public bool UpsertEndpointSlice(EndpointSlice slice)
    {
        lock (_gate)
        {
            if (!_slices.Set(slice.Key, slice))
                return false;
            NoteTriggerTime(slice);
            return true;
        }
    }

    private void NoteTriggerTime(EndpointSlice slice)
    {
        if (slice.LastChangeTriggerTime.Value is { } time && time > _started)
            _triggerTimes.Add(time);
    }

    public bool DeleteEndpointSlice(ObjectKey key)
    {
        lock (_gate) return _slices.Set(key, null);
    }

    /// <summary>
    /// Makes the given objects the complete state (a manifest directory reload, an API relist):
    /// objects not listed are deleted. False when nothing differs from the newest state.
    /// </summary>
    public bool ReplaceAll(IEnumerable<Service> services, IEnumerable<EndpointSlice> slices)
    {
        lock (_gate)
        {
            var servicesChanged = _services.Replace(services, service => service.Key);
            var slicesChanged = _slices.Replace(slices, slice => slice.Key, NoteTriggerTime);
            return servicesChanged || slicesChanged;
        }
    }

    /// <summary>Applies the pending changes and returns the new snapshot (the same instance when nothing was pending).</summary>
    public TrackerCommit Commit()
    {
        lock (_gate)
        {
            // The commit takes the list and the tracker starts a new one; an empty list is not handed out, because the
            // watch threads go on adding to the tracker's list while the sync thread enumerates the commit's.
            IReadOnlyList<DateTimeOffset> triggerTimes = [];
            if (_triggerTimes.Count > 0)
            {
                triggerTimes = _triggerTimes;
                _triggerTimes = [];
            }
            if (!_services.HasPending && !_slices.HasPending)
                return new TrackerCommit(_snapshot, new HashSet<ObjectKey>(), _snapshot);

            var serviceChanges = _services.Commit();
            var sliceChanges = _slices.Commit();
            var changed = new HashSet<ObjectKey>(serviceChanges.Count + sliceChanges.Count);
            foreach (var change in serviceChanges)
                changed.Add(change.Key);
            foreach (var change in sliceChanges)
            {
                if (change.Previous is not null)
                    changed.Add(change.Previous.ServiceKey);
                if (change.Current is not null)
                    changed.Add(change.Current.ServiceKey);
            }
            var previous = _snapshot;
            // A few changes are applied to the previous snapshot (cost grows with the change); a bulk load is rebuilt.
            _snapshot = serviceChanges.Count + sliceChanges.Count <= Math.Max(64, previous.Services.Count / 8)
                ? previous.With(serviceChanges, sliceChanges)
                : ServiceSnapshot.Create(_services.Committed, _slices.Committed);
            return new TrackerCommit(_snapshot, changed, previous) { TriggerTimes = triggerTimes };
        }
    }
}
