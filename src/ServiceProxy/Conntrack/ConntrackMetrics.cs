using System.Collections.Concurrent;
using System.Text;
using ProxyReplacement.ServiceProxy.Daemon;

namespace ProxyReplacement.ServiceProxy.Conntrack;

/// <summary>
/// Metrics of conntrack maintenance and map pressure, rendered into the daemon's /metrics by
/// <see cref="ProxyMetrics.Render"/>.
/// </summary>
public sealed class ConntrackMetrics
{
    public MetricCounter Sweeps { get; } = new();
    public MetricCounter SweepErrors { get; } = new();
    public MetricCounter ExpiredFlows { get; } = new();
    public MetricCounter OrphanReverses { get; } = new();
    public MetricCounter EntriesDeleted { get; } = new();
    public MetricCounter AffinityDeleted { get; } = new();
    public MetricGauge LastSweepDurationSeconds { get; } = new();
    public MetricCounter BackendPurges { get; } = new();
    public MetricCounter BackendPurgedEntries { get; } = new();
    public MetricCounter BackendPurgeErrors { get; } = new();
    public MetricCounter ServicesNotFitting { get; } = new();
    public MetricGauge ServicesHeldBack { get; } = new();

    /// <summary>Map name -> (entries, capacity), from the last count (at each full resync).</summary>
    public ConcurrentDictionary<string, (long Entries, long Capacity)> MapFill { get; } = new(StringComparer.Ordinal);

    public void Render(StringBuilder text)
    {
        ProxyMetrics.Counter(text, "proxyreplacement_conntrack_sweeps_total", "Conntrack sweeps run.", ("", Sweeps.Value));
        ProxyMetrics.Counter(text, "proxyreplacement_conntrack_sweep_errors_total", "Conntrack sweeps that failed (retried at the next interval).", ("", SweepErrors.Value));
        ProxyMetrics.Counter(text, "proxyreplacement_conntrack_expired_total", "Conntrack entries the sweeper found past their timeout, by kind.",
            ("kind=\"flow\"", ExpiredFlows.Value), ("kind=\"orphan_reverse\"", OrphanReverses.Value));
        ProxyMetrics.Counter(text, "proxyreplacement_conntrack_swept_entries_total", "Conntrack entries deleted by the sweeper (both entries of a flow count).", ("", EntriesDeleted.Value));
        ProxyMetrics.Counter(text, "proxyreplacement_affinity_swept_entries_total", "Session-affinity entries deleted by the sweeper (expired, or their frontend gone).", ("", AffinityDeleted.Value));
        ProxyMetrics.Gauge(text, "proxyreplacement_conntrack_sweep_last_duration_seconds", "Duration of the last conntrack sweep.", LastSweepDurationSeconds.Value);
        ProxyMetrics.Counter(text, "proxyreplacement_conntrack_backend_purges_total", "Purges of the flows of removed backends.", ("", BackendPurges.Value));
        ProxyMetrics.Counter(text, "proxyreplacement_conntrack_backend_purged_entries_total", "Conntrack entries deleted because their backend left its Service.", ("", BackendPurgedEntries.Value));
        ProxyMetrics.Counter(text, "proxyreplacement_conntrack_backend_purge_errors_total", "Failed purges of removed backends' flows.", ("", BackendPurgeErrors.Value));
        ProxyMetrics.Counter(text, "proxyreplacement_services_not_fitting_total", "Times a Service's backends did not fit the backend map (the Service was left as it was).", ("", ServicesNotFitting.Value));
        ProxyMetrics.Gauge(text, "proxyreplacement_services_held_back", "Services currently not programmed (or left at an older version) because their backends do not fit.", ServicesHeldBack.Value);
        if (MapFill.IsEmpty)
            return;
        var fills = MapFill.OrderBy(pair => pair.Key, StringComparer.Ordinal).ToList();
        Labelled(text, "proxyreplacement_map_entries", "Entries in each BPF map (counted at full resyncs).", fills.Select(f => (f.Key, (double)f.Value.Entries)));
        Labelled(text, "proxyreplacement_map_capacity", "max_entries of each BPF map.", fills.Select(f => (f.Key, (double)f.Value.Capacity)));
        Labelled(text, "proxyreplacement_map_fill_ratio", "Entries / capacity of each BPF map (a warning is logged at 0.9).",
            fills.Select(f => (f.Key, f.Value.Capacity > 0 ? (double)f.Value.Entries / f.Value.Capacity : 0)));
    }

    private static void Labelled(StringBuilder text, string name, string help, IEnumerable<(string Map, double Value)> samples)
    {
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        text.Append("# TYPE ").Append(name).Append(" gauge\n");
        foreach (var (map, value) in samples)
            text.Append(name).Append("{map=\"").Append(map).Append("\"} ")
                .Append(value.ToString("R", System.Globalization.CultureInfo.InvariantCulture)).Append('\n');
    }
}
