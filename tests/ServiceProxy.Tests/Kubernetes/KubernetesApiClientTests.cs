using System.Diagnostics.Metrics;
using System.Security.Cryptography.X509Certificates;
using k8s;
using WatchEventType = ProxyReplacement.ServiceProxy.Kubernetes.Api.WatchEventType;
using ProxyReplacement.ServiceProxy.Kubernetes.Api;
using ProxyReplacement.ServiceProxy.Kubernetes.Config;
using ProxyReplacement.ServiceProxy.Kubernetes.Objects;
using ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi;
using static ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi.FakeApiStore;

namespace ProxyReplacement.ServiceProxy.Tests.Kubernetes;

/// <summary>The API client (KubernetesClient underneath) alone against the fake server: TLS verification, authentication, decoding, errors, timeouts and the rest_client metrics.</summary>
[NonParallelizable]
public sealed class KubernetesApiClientTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private static readonly ListRequest ListAll = new(null, 0);

    private static ClusterConnection Connection(FakeApiServer server, Action<KubernetesClientConfiguration>? setup = null)
    {
        var configuration = new KubernetesClientConfiguration { Host = server.Url.ToString() };
        setup?.Invoke(configuration);
        return new ClusterConnection(configuration, "test");
    }

    private static string Base64(string text) => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(text));

    [Test]
    public async Task Tls_is_verified_against_the_ca_of_the_configuration()
    {
        using var certificates = TestCertificates.Create();
        using var otherCa = TestCertificates.Create("another-ca");
        await using var server = await FakeApiServer.StartAsync(certificates: certificates);
        server.Store.Put(Nodes, ApiJson.Node("node-a", "192.168.0.10"));

        using var trusting = new KubernetesApiClient(Connection(server, c => c.SslCaCerts = new X509Certificate2Collection(certificates.Ca)), Timeout);
        using var foreign = new KubernetesApiClient(Connection(server, c => c.SslCaCerts = new X509Certificate2Collection(otherCa.Ca)), Timeout);
        using var systemRoots = new KubernetesApiClient(Connection(server), Timeout);
        using var insecure = new KubernetesApiClient(Connection(server, c => c.SkipTlsVerify = true), Timeout);

        var page = await trusting.ListAsync(ApiResources.Nodes, ListAll, CancellationToken.None);
        var foreignError = Assert.ThrowsAsync<KubernetesApiException>(() => foreign.ListAsync(ApiResources.Nodes, ListAll, CancellationToken.None));
        var systemError = Assert.ThrowsAsync<KubernetesApiException>(() => systemRoots.ListAsync(ApiResources.Nodes, ListAll, CancellationToken.None));
        var insecurePage = await insecure.ListAsync(ApiResources.Nodes, ListAll, CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(server.Url.Scheme, Is.EqualTo("https"));
            Assert.That(page.Items.Single().Object?.Metadata?.Name, Is.EqualTo("node-a"));
            Assert.That(foreignError!.Failure, Is.EqualTo(ApiFailure.Connection));
            Assert.That(foreignError.Message, Does.Contain("SSL").IgnoreCase);
            Assert.That(systemError!.Failure, Is.EqualTo(ApiFailure.Connection), "a self-signed CA is not in the system's roots");
            Assert.That(insecurePage.Items, Has.Count.EqualTo(1));
        });
    }

    [Test]
    public async Task A_client_certificate_authenticates_the_client()
    {
        using var certificates = TestCertificates.Create();
        await using var server = await FakeApiServer.StartAsync(certificates: certificates);
        server.RequireClientCertificate = true;
        using var withCertificate = new KubernetesApiClient(Connection(server, c =>
        {
            c.SslCaCerts = new X509Certificate2Collection(certificates.Ca);
            c.ClientCertificateData = Base64(certificates.ClientCertificatePem);
            c.ClientCertificateKeyData = Base64(certificates.ClientKeyPem);
        }), Timeout);
        using var without = new KubernetesApiClient(Connection(server, c => c.SslCaCerts = new X509Certificate2Collection(certificates.Ca)), Timeout);

        var page = await withCertificate.ListAsync(ApiResources.Services, ListAll, CancellationToken.None);
        var refused = Assert.ThrowsAsync<KubernetesApiException>(() => without.ListAsync(ApiResources.Services, ListAll, CancellationToken.None));

        Assert.Multiple(() =>
        {
            Assert.That(page.Items, Is.Empty);
            Assert.That(server.Requests[0].ClientCertificateSubject, Is.EqualTo("CN=system:node:test"));
            Assert.That(refused!.StatusCode, Is.EqualTo(401));
            Assert.That(refused.Message, Is.EqualTo("list services: HTTP 401 Unauthorized: Unauthorized"));
        });
    }

    [Test]
    public async Task A_watch_streams_events_as_they_happen_and_reports_a_bad_object_with_its_field()
    {
        await using var server = await FakeApiServer.StartAsync();
        using var client = new KubernetesApiClient(Connection(server), Timeout);
        var from = server.Store.ResourceVersion;
        await using var stream = await client.WatchAsync(ApiResources.Services, new WatchRequest(null, from.ToString(), 30), CancellationToken.None);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var events = stream.ReadAllAsync(stop.Token).GetAsyncEnumerator(stop.Token);

        server.Store.Put(Services, ApiJson.Service("apps", "web", "10.96.0.1"));
        Assert.That(await events.MoveNextAsync(), Is.True, "the first event arrives while the stream stays open");
        var added = events.Current;
        var bad = ApiJson.Service("apps", "web", "10.96.0.1");
        bad["spec"]!["clusterIPs"] = "10.96.0.1"; // a string where a list belongs
        server.Store.Put(Services, bad);
        Assert.That(await events.MoveNextAsync(), Is.True);
        var malformed = events.Current;
        server.Store.Delete(Services, "apps", "web");
        Assert.That(await events.MoveNextAsync(), Is.True);
        var deleted = events.Current;
        server.Store.SendBookmarks(Services);
        Assert.That(await events.MoveNextAsync(), Is.True);
        var bookmark = events.Current;
        await events.DisposeAsync();

        Assert.Multiple(() =>
        {
            Assert.That(added.Type, Is.EqualTo(WatchEventType.Added));
            Assert.That(added.Item!.Object!.Spec!.ClusterIP, Is.EqualTo("10.96.0.1"));
            Assert.That(added.Item.ResourceVersion, Is.EqualTo((from + 1).ToString()));
            Assert.That(malformed.Type, Is.EqualTo(WatchEventType.Modified));
            Assert.That(malformed.Item!.Object, Is.Null);
            Assert.That(malformed.Item.Display, Is.EqualTo("apps/web"));
            Assert.That(malformed.Item.Error, Is.EqualTo("spec.clusterIPs: expected a list, got '10.96.0.1'"));
            Assert.That(deleted.Type, Is.EqualTo(WatchEventType.Deleted));
            Assert.That(deleted.Item!.ResourceVersion, Is.EqualTo((from + 3).ToString()));
            Assert.That(bookmark.Type, Is.EqualTo(WatchEventType.Bookmark));
            Assert.That(bookmark.Item!.ResourceVersion, Is.EqualTo((from + 3).ToString()));
        });
    }

    [Test]
    public async Task An_error_answer_carries_the_status_message_and_retry_after()
    {
        await using var server = await FakeApiServer.StartAsync();
        using var client = new KubernetesApiClient(Connection(server), Timeout);
        server.Inject(Services, ApiVerb.List, new Fault.Status(429, RetryAfterSeconds: 7));
        server.Inject(Services, ApiVerb.Watch, new Fault.Status(410));

        var throttled = Assert.ThrowsAsync<KubernetesApiException>(() => client.ListAsync(ApiResources.Services, ListAll, CancellationToken.None));
        var gone = Assert.ThrowsAsync<KubernetesApiException>(() => client.WatchAsync(ApiResources.Services, new WatchRequest(null, "1", 30), CancellationToken.None));

        Assert.Multiple(() =>
        {
            Assert.That(throttled!.StatusCode, Is.EqualTo(429));
            Assert.That(throttled.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(7)));
            Assert.That(throttled.Code, Is.EqualTo("429"));
            Assert.That(throttled.Message, Is.EqualTo("list services: HTTP 429 TooManyRequests: injected fault 429"));
            Assert.That(gone!.IsGone, Is.True);
            Assert.That(gone.Status?.Reason, Is.EqualTo("Expired"));
        });
    }

    [Test]
    public async Task A_request_without_an_answer_in_time_fails_as_a_timeout_and_a_static_token_is_not_retried()
    {
        await using var server = await FakeApiServer.StartAsync();
        server.RequiredToken = "right";
        using var slowClient = new KubernetesApiClient(Connection(server, c => c.AccessToken = "right"), TimeSpan.FromMilliseconds(200));
        using var wrongToken = new KubernetesApiClient(Connection(server, c => c.AccessToken = "wrong"), Timeout);
        server.Inject(Nodes, ApiVerb.List, new Fault.Slow(TimeSpan.FromSeconds(10)));

        var timeout = Assert.ThrowsAsync<KubernetesApiException>(() => slowClient.ListAsync(ApiResources.Nodes, ListAll, CancellationToken.None));
        var unauthorized = Assert.ThrowsAsync<KubernetesApiException>(() => wrongToken.ListAsync(ApiResources.Nodes, ListAll, CancellationToken.None));

        Assert.Multiple(() =>
        {
            Assert.That(timeout!.Failure, Is.EqualTo(ApiFailure.Timeout));
            Assert.That(timeout.Code, Is.EqualTo("timeout"));
            Assert.That(timeout.Message, Is.EqualTo("list nodes: no answer in time"));
            Assert.That(unauthorized!.StatusCode, Is.EqualTo(401));
            Assert.That(server.RequestsFor(Nodes, ApiVerb.List).Count(r => r.Authorization == "Bearer wrong"), Is.EqualTo(1),
                "a token written in the kubeconfig cannot change: no immediate retry");
        });
    }

    [Test]
    public async Task The_server_url_path_prefix_is_kept()
    {
        await using var server = await FakeApiServer.StartAsync();
        using var client = new KubernetesApiClient(new ClusterConnection(new KubernetesClientConfiguration { Host = new Uri(server.Url, "/prefix/").ToString() }, "test"), Timeout);

        var error = Assert.ThrowsAsync<KubernetesApiException>(() => client.ListAsync(ApiResources.Services, ListAll, CancellationToken.None));

        Assert.That(error!.Message, Is.EqualTo("list services: HTTP 404 NotFound: the server could not find the requested resource /prefix/api/v1/services"));
    }

    [Test]
    public async Task Every_request_is_counted_and_timed_in_the_rest_client_metrics()
    {
        await using var server = await FakeApiServer.StartAsync();
        using var client = new KubernetesApiClient(Connection(server), Timeout);
        var counted = new List<(long Value, Dictionary<string, object?> Tags)>();
        var timed = new List<(double Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == RestClientMetrics.MeterName)
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (instrument.Name == "rest_client_requests_total")
                lock (counted) counted.Add((value, tags.ToArray().ToDictionary(t => t.Key, t => t.Value)));
        });
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            if (instrument.Name == "rest_client_request_duration_seconds")
                lock (timed) timed.Add((value, tags.ToArray().ToDictionary(t => t.Key, t => t.Value)));
        });
        listener.Start();
        var host = $"127.0.0.1:{server.Url.Port}";
        server.Inject(Services, ApiVerb.List, new Fault.Status(500));

        Assert.ThrowsAsync<KubernetesApiException>(() => client.ListAsync(ApiResources.Services, ListAll, CancellationToken.None));
        await client.ListAsync(ApiResources.Services, ListAll, CancellationToken.None);
        server.Down = true;
        Assert.ThrowsAsync<KubernetesApiException>(() => client.ListAsync(ApiResources.Services, ListAll, CancellationToken.None));
        listener.Dispose();

        Assert.Multiple(() =>
        {
            var mine = counted.Where(c => Equals(c.Tags["host"], host)).ToList();
            Assert.That(mine.Select(c => (c.Value, c.Tags["code"], c.Tags["method"])),
                Is.EqualTo(new[] { (1L, (object?)"500", (object?)"GET"), (1L, "200", "GET"), (1L, "<error>", "GET") }));
            var durations = timed.Where(t => Equals(t.Tags["host"], host)).ToList();
            Assert.That(durations, Has.Count.EqualTo(3));
            Assert.That(durations, Has.All.Matches<(double Value, Dictionary<string, object?> Tags)>(t => Equals(t.Tags["verb"], "GET") && t.Value >= 0));
            Assert.That(RestClientMetrics.RequestDuration.Unit, Is.Null, "the name already says seconds: no exporter suffix");
        });
    }
}
