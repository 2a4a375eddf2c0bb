using System.Collections.Concurrent;
using System.Text;
using ProxyReplacement.ServiceProxy.Daemon;

namespace ProxyReplacement.ServiceProxy.Kubernetes;

/// <summary>Counters keyed by a label set (rendered as given, e.g. <c>resource="services",reason="gone"</c>).</summary>
public sealed class LabelledCounter
{
    private readonly ConcurrentDictionary<string, MetricCounter> _counters = new(StringComparer.Ordinal);

    public void Increment(string labels, long by = 1) => _counters.GetOrAdd(labels, _ => new MetricCounter()).Increment(by);

    public long Value(string labels) => _counters.TryGetValue(labels, out var counter) ? counter.Value : 0;

    public long Total => _counters.Values.Sum(counter => counter.Value);

    public (string Labels, long Value)[] Samples() =>
        _counters.OrderBy(pair => pair.Key, StringComparer.Ordinal).Select(pair => (pair.Key, pair.Value.Value)).ToArray();
}

/// <summary>
/// The Kubernetes source's metrics, rendered inside <see cref="ProxyMetrics"/> once the source runs:
/// relists and watch restarts by resource and reason, API request errors by resource and code, objects
/// rejected as malformed, and whether the API answers.
/// </summary>
public sealed class KubernetesMetrics
{
    public static string ResourceLabels(string resource, string name, string value) => $"resource=\"{resource}\",{name}=\"{value}\"";

    public static string ResourceLabel(string resource) => $"resource=\"{resource}\"";

    /// <summary>Set by the source when it starts: only then are these families rendered.</summary>
    public bool Enabled { get; set; }

    public LabelledCounter Relists { get; } = new();
    public LabelledCounter WatchRestarts { get; } = new();
    public LabelledCounter RequestErrors { get; } = new();
    public LabelledCounter ObjectsRejected { get; } = new();
    public MetricGauge ApiUp { get; } = new();

    internal void Render(StringBuilder text)
    {
        if (!Enabled)
            return;
        ProxyMetrics.Counter(text, "proxyreplacement_kubernetes_relists_total",
            "Full lists of a resource by reason (initial, gone: 410 on a watch, continue_expired: an expired list continue token).", Relists.Samples());
        ProxyMetrics.Counter(text, "proxyreplacement_kubernetes_watch_restarts_total",
            "Watches reopened from the last resourceVersion by reason (closed by the server, dropped mid-stream, error event).", WatchRestarts.Samples());
        ProxyMetrics.Counter(text, "proxyreplacement_kubernetes_request_errors_total",
            "Failed API requests by resource and code (HTTP status, or timeout/connection/protocol).", RequestErrors.Samples());
        ProxyMetrics.Counter(text, "proxyreplacement_kubernetes_objects_rejected_total",
            "API objects reported as malformed and skipped (their last good state is kept).", ObjectsRejected.Samples());
        ProxyMetrics.Gauge(text, "proxyreplacement_kubernetes_api_up", "1 while every list and watch works, 0 while the API fails.", ApiUp.Value);
    }
}
