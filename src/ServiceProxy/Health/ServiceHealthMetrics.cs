using System.Diagnostics.Metrics;
using ProxyReplacement.ServiceProxy.Daemon;

namespace ProxyReplacement.ServiceProxy.Health;

/// <summary>
/// The health check node port servers' metrics, declared on <see cref="ProxyMetrics.Meter"/>. The parameterless
/// constructor makes a set that nobody exports (tests).
/// </summary>
public sealed class ServiceHealthMetrics
{
    public ServiceHealthMetrics() => BindFailures = new();

    public ServiceHealthMetrics(ProxyMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        metrics.ObservableGauge("proxyreplacement_health_check_node_ports", "Health check node port servers open (eTP=Local LoadBalancer Services).",
            () => [new Measurement<double>(Servers.Value)]);
        metrics.ObservableGauge("proxyreplacement_health_check_node_ports_failing", "Health check node ports that cannot be bound (retried at every sync).",
            () => [new Measurement<double>(FailingPorts.Value)]);
        BindFailures = new(metrics.Counter("proxyreplacement_health_check_node_port_bind_failures_total", "Failed attempts to bind a health check node port."));
    }

    public MetricGauge Servers { get; } = new();
    public MetricGauge FailingPorts { get; } = new();
    public MetricCounter BindFailures { get; }
}
