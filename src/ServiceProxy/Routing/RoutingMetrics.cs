using System.Diagnostics.Metrics;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Daemon;

namespace ProxyReplacement.ServiceProxy.Routing;

/// <summary>
/// The routing module's metrics, declared on <see cref="ProxyMetrics.Meter"/> (served on /metrics and exported over
/// OTLP with the rest; kube-proxy has no counterpart, so they carry our prefix). The parameterless constructor makes a
/// set that nobody exports (tests).
/// </summary>
public sealed class RoutingMetrics
{
    private static readonly (string Type, string Owner)[] Kinds =
        [("pod_cidr", "local"), ("pod_cidr", "remote"), ("node_address", "local"), ("node_address", "remote")];

    private long[] _entries = new long[Kinds.Length];

    public RoutingMetrics()
    {
        Writes = new();
        WriteErrors = new();
    }

    public RoutingMetrics(ProxyMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        Writes = new(metrics.Counter("proxyreplacement_route_writes_total", "Writes (updates and deletes) to the route map pr_routes4."));
        WriteErrors = new(metrics.Counter("proxyreplacement_route_write_errors_total",
            "Failed writes to the route map pr_routes4 (retried at the next sync)."));
        metrics.ObservableGauge("proxyreplacement_routes",
            "Entries of the route map pr_routes4 as last written, by type (pod_cidr, node_address) and owner (local, remote).",
            () =>
            {
                var entries = Volatile.Read(ref _entries);
                return Kinds.Select((kind, i) => new Measurement<double>(entries[i],
                    new KeyValuePair<string, object?>("type", kind.Type), new KeyValuePair<string, object?>("owner", kind.Owner)));
            },
            "type", "owner");
        metrics.ObservableGauge("proxyreplacement_route_conflicts",
            "Problems in the Node objects at the last route build: claims skipped (no IPv4 InternalIP, a prefix or address claimed twice) or overlapping.",
            () => [new Measurement<double>(Conflicts.Value)]);
    }

    public MetricCounter Writes { get; }
    public MetricCounter WriteErrors { get; }
    public MetricGauge Conflicts { get; } = new();

    /// <summary>Entries by kind, in the order of <c>proxyreplacement_routes</c>'s label sets (tests).</summary>
    public IReadOnlyList<long> Entries => Volatile.Read(ref _entries);

    /// <summary>Counts the map's entries by kind (what <c>proxyreplacement_routes</c> reports).</summary>
    public void RecordEntries(IEnumerable<RouteValue> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var counts = new long[Kinds.Length];
        foreach (var value in values)
        {
            var local = value.Flags.HasFlag(RouteFlags.Local);
            if (!local && !value.Flags.HasFlag(RouteFlags.Remote))
                continue; // neither: not an entry we write
            counts[(value.Flags.HasFlag(RouteFlags.Node) ? 2 : 0) + (local ? 0 : 1)]++;
        }
        Volatile.Write(ref _entries, counts);
    }
}
