using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using ProxyReplacement.ServiceProxy.Daemon;

namespace ProxyReplacement.ServiceProxy.Kubernetes;

/// <summary>One label set, in the order the family declares its label names (e.g. resource, reason).</summary>
public sealed record MetricLabels(params (string Name, string Value)[] Pairs)
{
    public string Key => string.Join(',', Pairs.Select(pair => $"{pair.Name}=\"{pair.Value}\""));

    public KeyValuePair<string, object?>[] Tags => Pairs.Select(pair => new KeyValuePair<string, object?>(pair.Name, pair.Value)).ToArray();

    public bool Equals(MetricLabels? other) => other is not null && Key == other.Key;

    public override int GetHashCode() => Key.GetHashCode(StringComparison.Ordinal);

    public override string ToString() => Key;
}

/// <summary>A counter by label set (a <see cref="Counter{T}"/> with tags) that also keeps each set's total.</summary>
public sealed class LabelledCounter
{
    private readonly Counter<long> _instrument;
    private readonly ConcurrentDictionary<string, long> _totals = new(StringComparer.Ordinal);

    public LabelledCounter(Counter<long> instrument) => _instrument = instrument;

    public void Increment(MetricLabels labels, long by = 1)
    {
        _totals.AddOrUpdate(labels.Key, by, (_, total) => total + by);
        _instrument.Add(by, labels.Tags);
    }

    public long Value(MetricLabels labels) => _totals.GetValueOrDefault(labels.Key);

    public long Total => _totals.Values.Sum();
}

/// <summary>
/// The Kubernetes source's metrics (declared on <see cref="ProxyMetrics.Meter"/>; they show once the source runs):
/// relists and watch restarts by resource and reason, API request errors by resource and code, objects rejected as
/// malformed, and whether the API answers.
/// </summary>
public sealed class KubernetesMetrics
{
    public KubernetesMetrics(ProxyMetrics metrics)
    {
        Relists = new LabelledCounter(metrics.Counter("proxyreplacement_kubernetes_relists_total",
            "Full lists of a resource by reason (initial, gone: 410 on a watch, continue_expired: an expired list continue token).", "resource", "reason"));
        WatchRestarts = new LabelledCounter(metrics.Counter("proxyreplacement_kubernetes_watch_restarts_total",
            "Watches reopened from the last resourceVersion by reason (closed by the server, dropped mid-stream, error event).", "resource", "reason"));
        RequestErrors = new LabelledCounter(metrics.Counter("proxyreplacement_kubernetes_request_errors_total",
            "Failed API requests by resource and code (HTTP status, or timeout/connection/protocol).", "resource", "code"));
        ObjectsRejected = new LabelledCounter(metrics.Counter("proxyreplacement_kubernetes_objects_rejected_total",
            "API objects reported as malformed and skipped (their last good state is kept).", "resource"));
        metrics.ObservableGauge("proxyreplacement_kubernetes_api_up", "1 while every list and watch works, 0 while the API fails.",
            () => Enabled ? [new Measurement<double>(ApiUp.Value)] : []);
    }

    public static MetricLabels ResourceLabels(string resource, string name, string value) => new(("resource", resource), (name, value));

    public static MetricLabels ResourceLabel(string resource) => new(("resource", resource));

    /// <summary>Set by the source when it starts: only then is <c>proxyreplacement_kubernetes_api_up</c> reported.</summary>
    public bool Enabled { get; set; }

    public LabelledCounter Relists { get; }
    public LabelledCounter WatchRestarts { get; }
    public LabelledCounter RequestErrors { get; }
    public LabelledCounter ObjectsRejected { get; }
    public MetricGauge ApiUp { get; } = new();
}
