using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Health;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Options;
using ProxyReplacement.ServiceProxy.Sources;
using ProxyReplacement.ServiceProxy.Tests.Support;
using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.ServiceProxy.Tests.Health;

/// <summary>The node's /healthz, /livez and /readyz: kube-proxy's keys first, our extra keys after; exact bodies.</summary>
public sealed class NodeHealthEndpointsTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 6, 10, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan SyncPeriod = TimeSpan.FromSeconds(30);
    private const string T0 = "2026-12-06T10:00:00.0000000Z";
    private const string T5 = "2026-12-06T10:00:05.0000000Z";
    private const string T65 = "2026-12-06T10:01:05.0000000Z";
    private const string SourceOk = "\"source\":\"ok\",\"sourceDegradedSince\":null,\"sourceReason\":null";

    private FakeTimeProvider _time = null!;
    private HealthState _health = null!;

    [SetUp]
    public void CreateHealth()
    {
        _time = new FakeTimeProvider(Start);
        _health = new HealthState(_time, SyncPeriod);
    }

    private static Node Node(bool draining = false) =>
        new("node-a", EquatableList<NodeAddress>.Empty, "zone-a", TaintKeys: draining ? EquatableList.From<string>(Model.Node.ToBeDeletedTaint) : null);

    [Test]
    public void Healthy_and_synced()
    {
        _health.RecordSync();
        _time.Advance(TimeSpan.FromSeconds(5));

        Assert.Multiple(() =>
        {
            Assert.That(NodeHealthEndpoints.Healthz(_health), Is.EqualTo(new HealthResponse(200,
                $"{{\"lastUpdated\":\"{T5}\",\"currentTime\":\"{T5}\",\"nodeEligible\":true,\"lastSynced\":\"{T0}\",{SourceOk}}}")),
                "as in kube-proxy, lastUpdated is the current time while healthy");
            Assert.That(NodeHealthEndpoints.Livez(_health), Is.EqualTo(new HealthResponse(200,
                $"{{\"lastUpdated\":\"{T5}\",\"currentTime\":\"{T5}\",\"lastSynced\":\"{T0}\",{SourceOk}}}")));
            Assert.That(NodeHealthEndpoints.Readyz(_health), Is.EqualTo(new HealthResponse(200,
                $"{{\"lastUpdated\":\"{T0}\",\"currentTime\":\"{T5}\",{SourceOk}}}")));
        });
    }

    [Test]
    public void Starting_up_before_any_sync()
    {
        Assert.Multiple(() =>
        {
            Assert.That(NodeHealthEndpoints.Healthz(_health), Is.EqualTo(new HealthResponse(200,
                $"{{\"lastUpdated\":\"{T0}\",\"currentTime\":\"{T0}\",\"nodeEligible\":true,\"lastSynced\":null,{SourceOk}}}")));
            Assert.That(NodeHealthEndpoints.Livez(_health).StatusCode, Is.EqualTo(200));
            Assert.That(NodeHealthEndpoints.Readyz(_health), Is.EqualTo(new HealthResponse(503,
                $"{{\"lastUpdated\":null,\"currentTime\":\"{T0}\",{SourceOk}}}")));
        });
    }

    [Test]
    public void A_change_waiting_too_long_fails_healthz_and_livez_with_the_last_update_time()
    {
        _health.RecordSync();
        _time.Advance(TimeSpan.FromSeconds(5));
        _health.QueuedUpdate();
        _time.Advance(_health.Timeout);

        Assert.Multiple(() =>
        {
            Assert.That(NodeHealthEndpoints.Healthz(_health), Is.EqualTo(new HealthResponse(503,
                $"{{\"lastUpdated\":\"{T0}\",\"currentTime\":\"{T65}\",\"nodeEligible\":true,\"lastSynced\":\"{T0}\",{SourceOk}}}")));
            Assert.That(NodeHealthEndpoints.Livez(_health), Is.EqualTo(new HealthResponse(503,
                $"{{\"lastUpdated\":\"{T0}\",\"currentTime\":\"{T65}\",\"lastSynced\":\"{T0}\",{SourceOk}}}")));
            Assert.That(NodeHealthEndpoints.Readyz(_health).StatusCode, Is.EqualTo(200), "readiness is not lost");
        });
    }

    [Test]
    public void A_draining_node_fails_healthz_only()
    {
        _health.RecordSync();
        _health.ReportNode(Node(draining: true));

        Assert.Multiple(() =>
        {
            Assert.That(NodeHealthEndpoints.Healthz(_health), Is.EqualTo(new HealthResponse(503,
                $"{{\"lastUpdated\":\"{T0}\",\"currentTime\":\"{T0}\",\"nodeEligible\":false,\"lastSynced\":\"{T0}\",{SourceOk}}}")));
            Assert.That(NodeHealthEndpoints.Livez(_health).StatusCode, Is.EqualTo(200), "a draining node is alive: /livez ignores eligibility");
            Assert.That(NodeHealthEndpoints.Readyz(_health).StatusCode, Is.EqualTo(200));
        });
        _health.ReportNode(Node());
        Assert.That(NodeHealthEndpoints.Healthz(_health).StatusCode, Is.EqualTo(200));
    }

    [Test]
    public void A_degraded_source_is_an_extra_key_and_changes_no_status()
    {
        _health.RecordSync();
        _health.ReportSource(SourceCondition.Failing("services: watch: connection refused \"x\"", Start));

        var healthz = NodeHealthEndpoints.Healthz(_health);

        Assert.That(healthz, Is.EqualTo(new HealthResponse(200,
            $"{{\"lastUpdated\":\"{T0}\",\"currentTime\":\"{T0}\",\"nodeEligible\":true,\"lastSynced\":\"{T0}\"," +
            $"\"source\":\"degraded\",\"sourceDegradedSince\":\"{T0}\",\"sourceReason\":\"services: watch: connection refused \\\"x\\\"\"}}")));
    }

    [Test]
    public async Task Served_over_HTTP_with_kube_proxys_headers()
    {
        var options = new ProxyOptions();
        using var daemon = new ProxyDaemon(options, NullLoggerFactory.Instance, new ProxyMetrics(), _health, new NoSource());
        var port = FreePort();
        await using var app = HttpEndpoints.Create([new IPEndPoint(IPAddress.Loopback, port)], daemon, NullLoggerFactory.Instance)!;
        await app.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        _health.RecordSync();
        _health.ReportNode(Node(draining: true));

        var healthz = await client.GetAsync("/healthz");
        var livez = await client.GetAsync("/livez");
        var readyz = await client.GetAsync("/readyz");

        Assert.Multiple(async () =>
        {
            Assert.That(healthz.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That(livez.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(readyz.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            foreach (var response in new[] { healthz, livez, readyz })
            {
                Assert.That(response.Content.Headers.ContentType?.ToString(), Is.EqualTo("application/json"));
                Assert.That(response.Headers.GetValues("X-Content-Type-Options"), Is.EqualTo(new[] { "nosniff" }));
            }
            Assert.That(await healthz.Content.ReadAsStringAsync(), Is.EqualTo(NodeHealthEndpoints.Healthz(_health).Body));
        });
        await app.StopAsync();
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private sealed class NoSource : IServiceSource
    {
        public string Description => "none";
        public bool Synced => false;
        public Task RunAsync(ChangeTracker tracker, Action changed, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
