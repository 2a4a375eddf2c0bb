using System.Globalization;
using System.Text;
using ProxyReplacement.ServiceProxy.Daemon;

namespace ProxyReplacement.ServiceProxy.Health;

/// <summary>The health check node port servers' metrics (rendered into /metrics by <see cref="ProxyMetrics"/>).</summary>
public sealed class ServiceHealthMetrics
{
    public MetricGauge Servers { get; } = new();
    public MetricGauge FailingPorts { get; } = new();
    public MetricCounter BindFailures { get; } = new();

    public void Render(StringBuilder text)
    {
        Line(text, "proxyreplacement_health_check_node_ports", "gauge", "Health check node port servers open (eTP=Local LoadBalancer Services).", Servers.Value);
        Line(text, "proxyreplacement_health_check_node_ports_failing", "gauge", "Health check node ports that cannot be bound (retried at every sync).", FailingPorts.Value);
        Line(text, "proxyreplacement_health_check_node_port_bind_failures_total", "counter", "Failed attempts to bind a health check node port.", BindFailures.Value);
    }

    private static void Line(StringBuilder text, string name, string type, string help, double value) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
            .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n')
            .Append(name).Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
}
