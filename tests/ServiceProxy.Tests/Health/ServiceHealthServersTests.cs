using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using ProxyReplacement.ServiceProxy.Health;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.ServiceProxy.Tests.Health;

/// <summary>The health check node port servers with real sockets on 127.0.0.1.</summary>
public sealed class ServiceHealthServersTests
{
    private static readonly ObjectKey Web = new("shop", "web");
    private static readonly ObjectKey Api = new("shop", "api");

    private ServiceHealthMetrics _metrics = null!;
    private ServiceHealthServers _servers = null!;
    private volatile bool _proxyHealthy;

    [SetUp]
    public void CreateServers()
    {
        _metrics = new ServiceHealthMetrics();
        _proxyHealthy = true;
        _servers = new ServiceHealthServers(IPAddress.Loopback, () => _proxyHealthy, _metrics, NullLogger<ServiceHealthServers>.Instance);
    }

    [TearDown]
    public void DisposeServers() => _servers.Dispose();

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Sends <paramref name="request"/> and reads the whole answer (the server closes the connection).</summary>
    private static async Task<string> RawAsync(int port, string request = "GET /healthz HTTP/1.1\r\nHost: node\r\n\r\n")
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
    }

    private static async Task<bool> AcceptsAsync(int port)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static (string Head, string Body) Split(string response)
    {
        var end = response.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        return (response[..end], response[(end + 4)..]);
    }

    private static string[] HeaderLines(string head) =>
        head.Split("\r\n").Where(line => !line.StartsWith("Date: ", StringComparison.Ordinal)).ToArray();

    [Test]
    public async Task Answers_200_with_local_endpoints_with_kube_proxys_body_and_headers()
    {
        var port = FreePort();
        _servers.Update(new Dictionary<ObjectKey, ServiceHealthCheck> { [Web] = new(port, 2) });

        var (head, body) = Split(await RawAsync(port));

        Assert.Multiple(() =>
        {
            Assert.That(HeaderLines(head), Is.EqualTo(new[]
            {
                "HTTP/1.1 200 OK",
                "Content-Type: application/json",
                "X-Content-Type-Options: nosniff",
                "X-Load-Balancing-Endpoint-Weight: 2",
                $"Content-Length: {Encoding.UTF8.GetByteCount(body)}",
                "Connection: close",
            }));
            Assert.That(head, Does.Contain("\r\nDate: "));
            Assert.That(body, Is.EqualTo(
                "{\n\t\"service\": {\n\t\t\"namespace\": \"shop\",\n\t\t\"name\": \"web\"\n\t},\n\t\"localEndpoints\": 2,\n\t\"serviceProxyHealthy\": true\n}"));
            Assert.That(_servers.Serving, Is.EqualTo(new Dictionary<ObjectKey, int> { [Web] = port }));
            Assert.That(_metrics.Servers.Value, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Answers_503_without_local_endpoints_and_follows_the_count()
    {
        var port = FreePort();
        _servers.Update(new Dictionary<ObjectKey, ServiceHealthCheck> { [Web] = new(port, 0) });
        var none = Split(await RawAsync(port));

        _servers.Update(new Dictionary<ObjectKey, ServiceHealthCheck> { [Web] = new(port, 1) });
        var one = Split(await RawAsync(port));

        Assert.Multiple(() =>
        {
            Assert.That(none.Head, Does.StartWith("HTTP/1.1 503 Service Unavailable\r\n"));
            Assert.That(none.Head, Does.Contain("\r\nX-Load-Balancing-Endpoint-Weight: 0\r\n"));
            Assert.That(none.Body, Does.Contain("\"localEndpoints\": 0,"));
            Assert.That(one.Head, Does.StartWith("HTTP/1.1 200 OK\r\n"));
            Assert.That(one.Body, Does.Contain("\"localEndpoints\": 1,"));
        });
    }

    [Test]
    public async Task An_unhealthy_proxy_answers_503_even_with_local_endpoints()
    {
        var port = FreePort();
        _servers.Update(new Dictionary<ObjectKey, ServiceHealthCheck> { [Web] = new(port, 3) });
        _proxyHealthy = false;

        var (head, body) = Split(await RawAsync(port));

        Assert.That(head, Does.StartWith("HTTP/1.1 503 "));
        Assert.That(body, Does.EndWith("\"localEndpoints\": 3,\n\t\"serviceProxyHealthy\": false\n}"));
    }

    [Test]
    public async Task Serves_any_path_and_method_answers_HEAD_without_a_body_and_rejects_garbage()
    {
        var port = FreePort();
        _servers.Update(new Dictionary<ObjectKey, ServiceHealthCheck> { [Web] = new(port, 1) });

        var root = await RawAsync(port, "GET / HTTP/1.0\r\n\r\n");
        var head = await RawAsync(port, "HEAD /anything HTTP/1.1\r\nHost: x\r\n\r\n");
        var garbage = await RawAsync(port, "hello\r\n\r\n");
        using var http = new HttpClient();
        var viaClient = await http.GetAsync($"http://127.0.0.1:{port}/healthz");

        Assert.Multiple(async () =>
        {
            Assert.That(root, Does.StartWith("HTTP/1.1 200 OK\r\n"));
            Assert.That(Split(head).Body, Is.Empty);
            Assert.That(head, Does.Contain("\r\nContent-Length: "));
            Assert.That(garbage, Does.StartWith("HTTP/1.1 400 Bad Request\r\n"));
            Assert.That(viaClient.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(viaClient.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/json"));
            Assert.That(viaClient.Headers.GetValues("X-Load-Balancing-Endpoint-Weight"), Is.EqualTo(new[] { "1" }));
            Assert.That(await viaClient.Content.ReadAsStringAsync(), Does.Contain("\"name\": \"web\""));
        });
    }

    [Test]
    public async Task Servers_open_and_close_as_Services_come_and_go()
    {
        var (webPort, apiPort, movedPort) = (FreePort(), FreePort(), FreePort());
        _servers.Update(new Dictionary<ObjectKey, ServiceHealthCheck> { [Web] = new(webPort, 1), [Api] = new(apiPort, 1) });
        var bothOpen = (await AcceptsAsync(webPort), await AcceptsAsync(apiPort));

        _servers.Update(new Dictionary<ObjectKey, ServiceHealthCheck> { [Api] = new(apiPort, 1) });
        var webGone = (await AcceptsAsync(webPort), await AcceptsAsync(apiPort));

        _servers.Update(new Dictionary<ObjectKey, ServiceHealthCheck> { [Api] = new(movedPort, 1) });
        var apiMoved = (await AcceptsAsync(apiPort), await AcceptsAsync(movedPort));

        _servers.Update(new Dictionary<ObjectKey, ServiceHealthCheck> { [Web] = new(apiPort, 1) }); // web takes api's old port
        var portReused = (await AcceptsAsync(apiPort), await AcceptsAsync(movedPort));
        var reusedBody = Split(await RawAsync(apiPort)).Body;

        _servers.Update(new Dictionary<ObjectKey, ServiceHealthCheck>());

        Assert.Multiple(async () =>
        {
            Assert.That(bothOpen, Is.EqualTo((true, true)));
            Assert.That(webGone, Is.EqualTo((false, true)));
            Assert.That(apiMoved, Is.EqualTo((false, true)));
            Assert.That(portReused, Is.EqualTo((true, false)));
            Assert.That(reusedBody, Does.Contain("\"name\": \"web\""));
            Assert.That(await AcceptsAsync(apiPort), Is.False);
            Assert.That(_servers.Serving, Is.Empty);
            Assert.That(_metrics.Servers.Value, Is.EqualTo(0));
        });
    }

    [Test]
    public async Task A_port_in_use_is_reported_and_retried_at_each_update_without_stopping_the_others()
    {
        var (busyPort, apiPort) = (FreePort(), FreePort());
        var squatter = new TcpListener(IPAddress.Loopback, busyPort);
        squatter.Start();
        var wanted = new Dictionary<ObjectKey, ServiceHealthCheck> { [Web] = new(busyPort, 1), [Api] = new(apiPort, 1) };

        _servers.Update(wanted);
        var firstFailure = (_servers.Failing.Keys.ToArray(), _metrics.BindFailures.Value, _metrics.FailingPorts.Value, await AcceptsAsync(apiPort));
        _servers.Update(wanted);
        var retried = _metrics.BindFailures.Value;

        squatter.Stop();
        _servers.Update(wanted);

        Assert.Multiple(async () =>
        {
            Assert.That(firstFailure.Item1, Is.EqualTo(new[] { Web }));
            Assert.That(firstFailure.Item2, Is.EqualTo(1));
            Assert.That(firstFailure.Item3, Is.EqualTo(1));
            Assert.That(firstFailure.Item4, Is.True, "the other Service's server works");
            Assert.That(retried, Is.EqualTo(2), "each update retries the port");
            Assert.That(_servers.Failing, Is.Empty);
            Assert.That(_servers.Serving.Keys, Is.EquivalentTo(new[] { Web, Api }));
            Assert.That(_metrics.FailingPorts.Value, Is.EqualTo(0));
            Assert.That(_metrics.BindFailures.Value, Is.EqualTo(2));
            Assert.That(Split(await RawAsync(busyPort)).Body, Does.Contain("\"name\": \"web\""));
        });
    }

    [Test]
    public void A_failing_Service_that_goes_away_is_forgotten()
    {
        var busyPort = FreePort();
        using var squatter = new TcpListener(IPAddress.Loopback, busyPort);
        squatter.Start();
        _servers.Update(new Dictionary<ObjectKey, ServiceHealthCheck> { [Web] = new(busyPort, 1) });

        _servers.Update(new Dictionary<ObjectKey, ServiceHealthCheck>());

        Assert.That(_servers.Failing, Is.Empty);
        Assert.That(_metrics.FailingPorts.Value, Is.EqualTo(0));
        squatter.Stop();
    }

    [Test]
    public void The_desired_checks_are_the_eTP_Local_LoadBalancer_Services_with_this_nodes_ready_endpoints()
    {
        Service Lb(string name, TrafficPolicy etp, int? healthPort) => new("shop", name, Labels.Empty, ServiceType.LoadBalancer,
            EquatableList.From(IPAddress.Parse("10.96.0.10")), EquatableList.From(new ServicePort("", Protocol.Tcp, 80, TargetPort.FromNumber(8080), 30080)),
            ExternalTrafficPolicy: etp, HealthCheckNodePort: healthPort);
        SliceEndpoint Endpoint(string ip, string node, bool ready = true) =>
            new(EquatableList.From(IPAddress.Parse(ip)), new EndpointConditions(ready), node);
        var tracker = new ChangeTracker();
        tracker.ReplaceAll(
            [Lb("web", TrafficPolicy.Local, 31000), Lb("api", TrafficPolicy.Local, 31001), Lb("cluster", TrafficPolicy.Cluster, null), Lb("noport", TrafficPolicy.Local, null)],
            [new EndpointSlice("shop", "web-1", "web", AddressType.IPv4,
                EquatableList.From(Endpoint("10.1.0.1", "node-a"), Endpoint("10.1.0.2", "node-a", ready: false), Endpoint("10.1.0.3", "node-b")),
                EquatableList.From(new EndpointPort("", Protocol.Tcp, 8080)))]);

        var desired = ServiceHealthChecks.Desired(tracker.Commit().Snapshot, "node-a");

        Assert.That(desired, Is.EquivalentTo(new Dictionary<ObjectKey, ServiceHealthCheck>
        {
            [Web] = new(31000, 1),
            [Api] = new(31001, 0),
        }));
    }
}
