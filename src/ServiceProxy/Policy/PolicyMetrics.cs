using System.Diagnostics.Metrics;
using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Policy;

/// <summary>
/// The policy module's metrics, declared on <see cref="ProxyMetrics.Meter"/> (served on /metrics and exported over OTLP;
/// our prefix: kube-proxy has no counterpart). The parameterless constructor makes a set nobody exports (tests).
/// </summary>
public sealed class PolicyMetrics
{
    private static readonly string[] Maps = ["pr_pol_ep4", "pr_pol_ports4", "pr_pol_peers4"];
    private long[] _entries = new long[Maps.Length];
    private IReadOnlyDictionary<string, int> _problems = new Dictionary<string, int>();

    public PolicyMetrics()
    {
        Writes = new();
        WriteErrors = new();
        MapFull = new();
    }

    public PolicyMetrics(ProxyMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        Writes = new(metrics.Counter("proxyreplacement_policy_writes_total", "Writes (updates and deletes) to the policy maps."));
        WriteErrors = new(metrics.Counter("proxyreplacement_policy_write_errors_total", "Failed writes to the policy maps (retried at the next sync)."));
        MapFull = new(metrics.Counter("proxyreplacement_policy_map_full_total",
            "Policy map writes refused because the map is full (E2BIG/ENOSPC): raise its size; the rest keeps working."));
        CompileDuration = metrics.Histogram("proxyreplacement_policy_compile_duration_seconds",
            "Time to compile the NetworkPolicies into the policy maps' entries.", ProxyMetrics.SyncDurationBuckets);
        metrics.ObservableGauge("proxyreplacement_policy_endpoints", "Pods of this node whose flows the policy module tracks, isolated or not (entries of pr_pol_ep4 desired).",
            () => [new Measurement<double>(Endpoints.Value)]);
        metrics.ObservableGauge("proxyreplacement_policy_rule_sets", "Distinct compiled rule sets (set ids) in use.",
            () => [new Measurement<double>(RuleSets.Value)]);
        metrics.ObservableGauge("proxyreplacement_policy_map_entries", "Entries of each policy map as last written.",
            () =>
            {
                var entries = Volatile.Read(ref _entries);
                return Maps.Select((map, i) => new Measurement<double>(entries[i], new KeyValuePair<string, object?>("map", map)));
            },
            "map");
        metrics.ObservableGauge("proxyreplacement_policy_problems",
            "NetworkPolicies (or parts) not enforced, by reason: malformed policies skipped, IPv6 ipBlocks, named ports towards ipBlocks.",
            () => PolicyProblemReason.All.Select(reason => new Measurement<double>(Volatile.Read(ref _problems).GetValueOrDefault(reason),
                new KeyValuePair<string, object?>("reason", reason))),
            "reason");
    }

    public MetricCounter Writes { get; }
    public MetricCounter WriteErrors { get; }
    public MetricCounter MapFull { get; }
    public Histogram<double>? CompileDuration { get; }
    public MetricGauge Endpoints { get; } = new();
    public MetricGauge RuleSets { get; } = new();

    /// <summary>Entries of pr_pol_ep4, pr_pol_ports4, pr_pol_peers4 (tests).</summary>
    public IReadOnlyList<long> Entries => Volatile.Read(ref _entries);

    /// <summary>The current problems by reason (tests).</summary>
    public IReadOnlyDictionary<string, int> Problems => Volatile.Read(ref _problems);

    public void RecordEntries(int endpoints, int ports, int peers) => Volatile.Write(ref _entries, [endpoints, ports, peers]);

    public void RecordProblems(IEnumerable<PolicyProblem> problems) =>
        Volatile.Write(ref _problems, problems.GroupBy(p => p.Reason).ToDictionary(g => g.Key, g => g.Count()));
}
