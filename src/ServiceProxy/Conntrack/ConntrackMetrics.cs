using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using ProxyReplacement.ServiceProxy.Daemon;

namespace ProxyReplacement.ServiceProxy.Conntrack;

/// <summary>
/// Metrics of conntrack maintenance and map pressure, declared on <see cref="ProxyMetrics.Meter"/> (served on /metrics
/// and exported over OTLP with the rest). The parameterless constructor makes a set that nobody exports (tests).
/// </summary>
public sealed class ConntrackMetrics
{
    public ConntrackMetrics()
    {
        Sweeps = new();
        SweepErrors = new();
        ExpiredFlows = new();
        OrphanReverses = new();
        EntriesDeleted = new();
        AffinityDeleted = new();
        SweepDuration = null;
        BackendPurges = new();
        BackendPurgedEntries = new();
        BackendPurgeErrors = new();
        ServicesNotFitting = new();
    }

    public ConntrackMetrics(ProxyMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        Sweeps = new(metrics.Counter("proxyreplacement_conntrack_sweeps_total", "Conntrack sweeps run."));
        SweepErrors = new(metrics.Counter("proxyreplacement_conntrack_sweep_errors_total", "Conntrack sweeps that failed (retried at the next interval)."));
        var expired = metrics.Counter("proxyreplacement_conntrack_expired_total", "Conntrack entries the sweeper found past their timeout, by kind.", "kind");
        ExpiredFlows = new(expired, new KeyValuePair<string, object?>("kind", "flow"));
        OrphanReverses = new(expired, new KeyValuePair<string, object?>("kind", "orphan_reverse"));
        EntriesDeleted = new(metrics.Counter("proxyreplacement_conntrack_swept_entries_total", "Conntrack entries deleted by the sweeper (both entries of a flow count)."));
        AffinityDeleted = new(metrics.Counter("proxyreplacement_affinity_swept_entries_total",
            "Session-affinity entries deleted by the sweeper (expired, or their frontend gone)."));
        SweepDuration = metrics.Histogram("proxyreplacement_conntrack_sweep_duration_seconds", "Duration of the conntrack sweeps.",
            ProxyMetrics.SyncDurationBuckets);
        BackendPurges = new(metrics.Counter("proxyreplacement_conntrack_backend_purges_total", "Purges of the flows of removed backends."));
        BackendPurgedEntries = new(metrics.Counter("proxyreplacement_conntrack_backend_purged_entries_total",
            "Conntrack entries deleted because their backend left its Service."));
        BackendPurgeErrors = new(metrics.Counter("proxyreplacement_conntrack_backend_purge_errors_total", "Failed purges of removed backends' flows."));
        ServicesNotFitting = new(metrics.Counter("proxyreplacement_services_not_fitting_total",
            "Times a Service's backends did not fit the backend map (the Service was left as it was)."));
        metrics.ObservableGauge("proxyreplacement_services_held_back",
            "Services currently not programmed (or left at an older version) because their backends do not fit.",
            () => [new Measurement<double>(ServicesHeldBack.Value)]);
        metrics.ObservableGauge("proxyreplacement_map_entries", "Entries in each BPF map (counted at full resyncs).",
            () => Fills().Select(fill => new Measurement<double>(fill.Value.Entries, new KeyValuePair<string, object?>("map", fill.Key))), "map");
        metrics.ObservableGauge("proxyreplacement_map_capacity", "max_entries of each BPF map.",
            () => Fills().Select(fill => new Measurement<double>(fill.Value.Capacity, new KeyValuePair<string, object?>("map", fill.Key))), "map");
        metrics.ObservableGauge("proxyreplacement_map_fill_ratio", "Entries / capacity of each BPF map (a warning is logged at 0.9).",
            () => Fills().Select(fill => new Measurement<double>(fill.Value.Capacity > 0 ? (double)fill.Value.Entries / fill.Value.Capacity : 0,
                new KeyValuePair<string, object?>("map", fill.Key))), "map");
    }

    public MetricCounter Sweeps { get; }
    public MetricCounter SweepErrors { get; }
    public MetricCounter ExpiredFlows { get; }
    public MetricCounter OrphanReverses { get; }
    public MetricCounter EntriesDeleted { get; }
    public MetricCounter AffinityDeleted { get; }

    /// <summary>The last sweep's duration (kept for tests and logs); every sweep is also observed in a histogram.</summary>
    public MetricGauge LastSweepDurationSeconds { get; } = new();

    private Histogram<double>? SweepDuration { get; }

    public MetricCounter BackendPurges { get; }
    public MetricCounter BackendPurgedEntries { get; }
    public MetricCounter BackendPurgeErrors { get; }
    public MetricCounter ServicesNotFitting { get; }
    public MetricGauge ServicesHeldBack { get; } = new();

    /// <summary>Map name -> (entries, capacity), from the last count (at each full resync).</summary>
    public ConcurrentDictionary<string, (long Entries, long Capacity)> MapFill { get; } = new(StringComparer.Ordinal);

    /// <summary>Records one sweep's duration: the last value and the histogram (durations are histograms).</summary>
    public void RecordSweep(TimeSpan duration)
    {
        LastSweepDurationSeconds.Set(duration.TotalSeconds);
        SweepDuration?.Record(duration.TotalSeconds);
    }

    private IEnumerable<KeyValuePair<string, (long Entries, long Capacity)>> Fills() => MapFill.OrderBy(pair => pair.Key, StringComparer.Ordinal);
}
