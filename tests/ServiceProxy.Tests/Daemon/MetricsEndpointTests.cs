using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Options;
using ProxyReplacement.ServiceProxy.Sources;
using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.ServiceProxy.Tests.Daemon;

/// <summary>
/// Scrapes the daemon's real <c>/metrics</c> endpoint (Kestrel + prometheus-net) and checks it against what kube-proxy
/// dashboards query: the kubernetes-mixin "Kubernetes / Proxy" dashboard (Dashboards/) and the rest of
/// kube-proxy's sync metrics.
/// </summary>
public sealed class MetricsEndpointTests
{
    private sealed class IdleSource : IServiceSource
    {
        public string Description => "idle";
        public bool Synced => false;
        public Task RunAsync(ChangeTracker tracker, Action changed, CancellationToken cancellationToken) => Task.Delay(Timeout.Infinite, cancellationToken);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<(Exposition Exposition, string ContentType)> ScrapeDaemonAsync(Action<ProxyMetrics>? before = null)
    {
        var options = new ProxyOptions();
        using var metrics = new ProxyMetrics();
        before?.Invoke(metrics);
        using var daemon = new ProxyDaemon(options, NullLoggerFactory.Instance, metrics, new HealthState(TimeProvider.System, options.SyncPeriod), new IdleSource());
        var address = new IPEndPoint(IPAddress.Loopback, FreePort());
        await using var http = HttpEndpoints.Create([address], daemon, NullLoggerFactory.Instance)!;
        await http.StartAsync();
        try
        {
            using var client = new HttpClient();
            using var response = await client.GetAsync(new Uri($"http://{address}/metrics"));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            return (new Exposition(await response.Content.ReadAsStringAsync()), response.Content.Headers.ContentType?.ToString() ?? "");
        }
        finally
        {
            await http.StopAsync();
        }
    }

    private sealed record DashboardSeries(string Series, string Type, string Status, string Panel);

    private static List<DashboardSeries> DashboardData()
    {
        var path = Path.Combine(TestContext.CurrentContext.TestDirectory, "Dashboards", "kubernetes-mixin-proxy.txt");
        return File.ReadAllLines(path)
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .Select(line => line.Split(' ', 4, StringSplitOptions.RemoveEmptyEntries))
            .Select(parts => new DashboardSeries(parts[0], parts[1], parts[2], parts.Length > 3 ? parts[3].Trim() : ""))
            .ToList();
    }

    [Test]
    public async Task Every_series_of_the_kubernetes_mixin_proxy_dashboard_exists_with_its_type()
    {
        var data = DashboardData();
        var (exposition, contentType) = await ScrapeDaemonAsync();

        Assert.That(contentType, Does.StartWith("text/plain"));
        Assert.That(data.Select(d => d.Status), Has.All.AnyOf("required", "pending", "absent"));
        Assert.That(data.Count(d => d.Status == "required"), Is.GreaterThanOrEqualTo(6));
        Assert.Multiple(() =>
        {
            foreach (var series in data.Where(d => d.Status != "absent"))
            {
                var family = exposition.FamilyOf(series.Series);
                if (family is null)
                {
                    if (series.Status == "required")
                        Assert.Fail($"{series.Series} ({series.Panel}) is not in /metrics");
                    continue;
                }
                Assert.That(exposition.Types[family], Is.EqualTo(series.Type), $"the type of {series.Series} ({series.Panel})");
                if (series.Status == "required")
                    Assert.That(exposition.HasSample(series.Series), Is.True, $"{series.Series} has a sample from the start");
            }
        });
    }

    [TestCase("kubeproxy_sync_proxy_rules_duration_seconds", "histogram")]
    [TestCase("kubeproxy_sync_full_proxy_rules_duration_seconds", "histogram")]
    [TestCase("kubeproxy_sync_partial_proxy_rules_duration_seconds", "histogram")]
    [TestCase("kubeproxy_network_programming_duration_seconds", "histogram")]
    [TestCase("kubeproxy_sync_proxy_rules_last_timestamp_seconds", "gauge")]
    [TestCase("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", "gauge")]
    [TestCase("kubeproxy_sync_proxy_rules_endpoint_changes_total", "counter")]
    [TestCase("kubeproxy_sync_proxy_rules_endpoint_changes_pending", "gauge")]
    [TestCase("kubeproxy_sync_proxy_rules_service_changes_total", "counter")]
    [TestCase("kubeproxy_sync_proxy_rules_service_changes_pending", "gauge")]
    [TestCase("process_cpu_seconds_total", "counter")]
    [TestCase("process_start_time_seconds", "gauge")]
    [TestCase("process_resident_memory_bytes", "gauge")]
    [TestCase("process_virtual_memory_bytes", "gauge")]
    [TestCase("process_open_fds", "gauge")]
    [TestCase("process_max_fds", "gauge")]
    public async Task Kube_proxy_metric_is_served_with_kube_proxys_type(string family, string type)
    {
        var (exposition, _) = await ScrapeDaemonAsync();

        Assert.That(exposition.Types.GetValueOrDefault(family), Is.EqualTo(type));
    }

    [Test]
    public async Task The_daemon_reads_its_dataplane_counters_and_tracker_at_scrape_time()
    {
        var (exposition, _) = await ScrapeDaemonAsync();

        // No dataplane loaded: the verdict family has no samples, the tracker's counters are zero.
        Assert.Multiple(() =>
        {
            Assert.That(exposition.HasSample("proxyreplacement_dataplane_packets_total"), Is.False);
            Assert.That(exposition.Value("kubeproxy_sync_proxy_rules_service_changes_total"), Is.Zero);
        });
    }
}
