using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ProxyReplacement.ServiceProxy.Kubernetes;
using ProxyReplacement.ServiceProxy.Kubernetes.Config;
using ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi;
using static ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi.FakeApiStore;

namespace ProxyReplacement.ServiceProxy.Tests.Kubernetes;

/// <summary>
/// The Kubernetes source end to end in-process: fake API server, real client, reflectors, tracker and
/// Syncer on observed maps. After each fault: the maps serve exactly what the objects say, and a relist
/// never deletes or rewrites an entry whose Service did not change.
/// </summary>
[NonParallelizable]
public sealed class KubernetesSourceTests
{
    private FakeApiServer _server = null!;
    private ApiSourceUnderTest? _source;

    [SetUp]
    public async Task StartServerAsync()
    {
        _server = await FakeApiServer.StartAsync();
        _server.RequiredToken = "test-token";
        _server.Store.Put(Nodes, ApiJson.Node("node-a", "192.168.0.10", zone: "zone-1"));
        _server.Store.Put(Nodes, ApiJson.Node("node-b", "192.168.0.11", zone: "zone-2"));
    }

    [TearDown]
    public async Task StopAsync()
    {
        if (_source is not null)
        {
            if (TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Failed)
                await TestContext.Out.WriteLineAsync(string.Join("\n", _source.Logs.Lines));
            await _source.DisposeAsync();
        }
        await _server.DisposeAsync();
    }

    private FakeApiStore Store => _server.Store;

    private async Task<ApiSourceUnderTest> StartAsync(string? serviceProxyName = null, TimeSpan? requestTimeout = null, ClusterConnection? connection = null)
    {
        _source = await ApiSourceUnderTest.CreateAsync(_server, connection, serviceProxyName: serviceProxyName, requestTimeout: requestTimeout);
        await _source.StartAndSyncAsync();
        return _source;
    }

    /// <summary>Service <c>name</c> at 10.96.0.<c>n</c>:80 -> 8080 with a slice listing the given pod addresses.</summary>
    private void PutService(string name, int n, params string[] pods)
    {
        Store.Put(Services, ApiJson.Service("apps", name, $"10.96.0.{n}"));
        PutSlice(name, pods);
    }

    private void PutSlice(string service, params string[] pods) =>
        Store.Put(EndpointSlices, ApiJson.EndpointSlice("apps", $"{service}-abc12", service, 8080, pods));

    private static string ServedLine(int n, params string[] pods) =>
        $"10.96.0.{n}:80/tcp -> {string.Join(",", pods.Select(pod => pod + ":8080").Order(StringComparer.Ordinal))}";

    private long Relists(string resource, string reason) => _source!.Kubernetes.Relists.Value(KubernetesMetrics.ResourceLabels(resource, "reason", reason));

    private long Restarts(string resource, string reason) => _source!.Kubernetes.WatchRestarts.Value(KubernetesMetrics.ResourceLabels(resource, "reason", reason));

    private long Errors(string resource, string code) => _source!.Kubernetes.RequestErrors.Value(KubernetesMetrics.ResourceLabels(resource, "code", code));

    /// <summary>The write-log lines touching the frontend at 10.96.0.<c>n</c> or the backends of its service id.</summary>
    private List<string> WritesTouching(int n, uint serviceId) =>
        _source!.WriteLog().Where(line => line.Contains($"10.96.0.{n}:80", StringComparison.Ordinal) ||
                                          Regex.IsMatch(line, $@"be svc={serviceId} ")).ToList();

    private uint ServiceIdOf(int n) =>
        _source!.Maps.Frontends.Inner.ReadAll().Single(pair => pair.Key.Vip.ToString() == $"10.96.0.{n}").Value.ServiceId;

    [Test]
    public async Task The_first_list_pages_through_every_resource_and_programs_what_the_objects_say()
    {
        PutService("web", 1, "10.244.1.1", "10.244.1.2");
        PutService("api", 2, "10.244.2.1");
        PutService("db", 3, "10.244.3.1", "10.244.3.2", "10.244.3.3");

        var source = await StartAsync();

        Assert.Multiple(() =>
        {
            Assert.That(source.Served(), Is.EqualTo(new[]
            {
                ServedLine(1, "10.244.1.1", "10.244.1.2"), ServedLine(2, "10.244.2.1"), ServedLine(3, "10.244.3.1", "10.244.3.2", "10.244.3.3"),
            }));
            Assert.That(source.Maps.Violations, Is.Empty, "make before break");
            var serviceLists = _server.RequestsFor(Services, ApiVerb.List).ToList();
            Assert.That(serviceLists.Select(r => r.Query.GetValueOrDefault("continue") is null), Is.EqualTo(new[] { true, false }),
                "3 Services at 2 a page: a first page and one continued page");
            Assert.That(serviceLists, Has.All.Matches<RecordedRequest>(r => r.Query["limit"] == "2"));
            Assert.That(serviceLists[0].Query["labelSelector"], Is.EqualTo("!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless"));
            Assert.That(_server.Requests, Has.All.Matches<RecordedRequest>(r => r.Authorization == "Bearer test-token"));
            Assert.That(source.Source.ThisNode, Is.EqualTo(new Model.Node("node-a", Model.EquatableList.From(
                new Model.NodeAddress(Model.NodeAddressType.InternalIP, "192.168.0.10", System.Net.IPAddress.Parse("192.168.0.10")),
                new Model.NodeAddress(Model.NodeAddressType.Hostname, "node-a")), "zone-1")));
            Assert.That(source.Source.Nodes.Keys, Is.EqualTo(new[] { "node-a", "node-b" }));
            Assert.That(Relists(Services, "initial"), Is.EqualTo(1));
            Assert.That(source.Kubernetes.ApiUp.Value, Is.EqualTo(1));
            Assert.That(source.Health.Source.Degraded, Is.False);
        });
    }

    [Test]
    public async Task Watch_events_add_change_and_delete_what_is_served()
    {
        PutService("web", 1, "10.244.1.1");
        var source = await StartAsync();
        var listVersion = Store.ResourceVersion;

        PutService("api", 2, "10.244.2.1", "10.244.2.2");
        await source.UntilServedAsync(ServedLine(1, "10.244.1.1"), ServedLine(2, "10.244.2.1", "10.244.2.2"));
        PutSlice("web", "10.244.1.1", "10.244.1.7");
        await source.UntilServedAsync(ServedLine(1, "10.244.1.1", "10.244.1.7"), ServedLine(2, "10.244.2.1", "10.244.2.2"));
        Store.Delete(Services, "apps", "api");
        await source.UntilServedAsync(ServedLine(1, "10.244.1.1", "10.244.1.7"));

        var watch = _server.RequestsFor(Services, ApiVerb.Watch).First();
        Assert.Multiple(() =>
        {
            Assert.That(watch.Query["resourceVersion"], Is.EqualTo(listVersion.ToString()), "the watch starts at the list's resourceVersion");
            Assert.That(watch.Query["allowWatchBookmarks"], Is.EqualTo("true"));
            Assert.That(int.Parse(watch.Query["timeoutSeconds"]), Is.InRange(300, 600), "client-go's 5-10 minutes");
            Assert.That(source.Maps.Violations, Is.Empty);
            Assert.That(Relists(Services, "gone") + Relists(EndpointSlices, "gone"), Is.Zero);
        });
    }

    [Test]
    public async Task A_watch_dropped_mid_event_resumes_from_the_last_version_without_a_relist()
    {
        PutService("web", 1, "10.244.1.1");
        _server.Inject(EndpointSlices, ApiVerb.Watch, new Fault.DropMidEvent(AfterEvents: 1));
        var source = await StartAsync();
        await source.UntilAsync(() => _server.RequestsFor(EndpointSlices, ApiVerb.Watch).Count() == 1 && Store.OpenWatches(EndpointSlices) == 1, "the slice watch is open");

        PutSlice("web", "10.244.1.1", "10.244.1.2");
        var firstEventVersion = Store.ResourceVersion;
        // The drop resets the connection, which discards what the client had not read yet: let it read the first event.
        await source.UntilAsync(() => source.Source.ResourceVersion(EndpointSlices) == firstEventVersion.ToString(), "the first event was read");
        PutSlice("web", "10.244.1.1", "10.244.1.2", "10.244.1.3"); // cut in half on the wire

        await source.UntilServedAsync(ServedLine(1, "10.244.1.1", "10.244.1.2", "10.244.1.3"));
        var watches = _server.RequestsFor(EndpointSlices, ApiVerb.Watch).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(watches[1].Query["resourceVersion"], Is.EqualTo(firstEventVersion.ToString()),
                "reopened from the last whole event; the half event was not applied");
            Assert.That(Restarts(EndpointSlices, "dropped"), Is.EqualTo(1));
            Assert.That(Relists(EndpointSlices, "gone") + Relists(EndpointSlices, "continue_expired"), Is.Zero, "no relist for a dropped stream");
            Assert.That(source.Maps.Violations, Is.Empty);
        });
    }

    [TestCase(false, TestName = "Gone_as_a_watch_ERROR_event_relists_in_place_without_touching_unchanged_entries")]
    [TestCase(true, TestName = "Gone_as_HTTP_410_relists_in_place_without_touching_unchanged_entries")]
    public async Task Gone_relists_in_place(bool asHttpStatus)
    {
        _server.GoneAsHttpStatus = asHttpStatus;
        PutService("steady", 1, "10.244.1.1", "10.244.1.2");
        PutService("scaled", 2, "10.244.2.1");
        PutService("removed", 3, "10.244.3.1");
        var source = await StartAsync();
        var steadyId = ServiceIdOf(1);

        // While the client cannot see them, things change and the history is compacted away.
        _server.Down = true;
        await source.UntilAsync(() => source.Health.Source.Degraded, "the outage is noticed");
        source.ClearWriteLog();
        PutSlice("scaled", "10.244.2.1", "10.244.2.2");
        Store.Delete(Services, "apps", "removed");
        PutService("added", 4, "10.244.4.1");
        Store.Compact();
        _server.Down = false;

        await source.UntilServedAsync(ServedLine(1, "10.244.1.1", "10.244.1.2"), ServedLine(2, "10.244.2.1", "10.244.2.2"), ServedLine(4, "10.244.4.1"));
        Assert.Multiple(() =>
        {
            Assert.That(Relists(Services, "gone"), Is.EqualTo(1));
            Assert.That(Relists(EndpointSlices, "gone"), Is.EqualTo(1));
            Assert.That(WritesTouching(1, steadyId), Is.Empty, "the unchanged Service's frontend and backends were neither deleted nor rewritten");
            Assert.That(source.WriteLog(), Has.Some.StartsWith("-fe 10.96.0.3:80/tcp"), "the Service deleted meanwhile is removed");
            Assert.That(source.Maps.Violations, Is.Empty);
        });
        await source.UntilAsync(() => !source.Health.Source.Degraded, "the source is healthy again");
    }

    [Test]
    public async Task An_expired_continue_token_lists_again_from_the_start()
    {
        for (var n = 1; n <= 5; n++)
            PutService($"svc-{n}", n, $"10.244.{n}.1");
        _server.Inject(Services, ApiVerb.List, new Fault.ExpireContinue());

        var source = await StartAsync();

        var lists = _server.RequestsFor(Services, ApiVerb.List).Select(r => r.Query.GetValueOrDefault("continue") is null ? "first" : "continued").ToList();
        Assert.Multiple(() =>
        {
            Assert.That(source.Served(), Has.Count.EqualTo(5));
            Assert.That(source.Served(), Is.EqualTo(Enumerable.Range(1, 5).Select(n => ServedLine(n, $"10.244.{n}.1")).Order(StringComparer.Ordinal)));
            Assert.That(lists, Is.EqualTo(new[] { "first", "continued", "first", "continued", "continued" }),
                "5 Services at 2 a page; the first continued page is refused, so the list starts over");
            Assert.That(Relists(Services, "continue_expired"), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Server_errors_are_retried_with_backoff_until_the_list_works()
    {
        PutService("web", 1, "10.244.1.1");
        _server.Inject(Services, ApiVerb.List, new Fault.Status(500), times: 3);
        _server.Inject(EndpointSlices, ApiVerb.Watch, new Fault.Status(503), times: 2);

        var source = await StartAsync();
        PutSlice("web", "10.244.1.1", "10.244.1.2");

        await source.UntilServedAsync(ServedLine(1, "10.244.1.1", "10.244.1.2"));
        Assert.Multiple(() =>
        {
            Assert.That(Errors(Services, "500"), Is.EqualTo(3));
            Assert.That(Errors(EndpointSlices, "503"), Is.EqualTo(2));
            Assert.That(source.Logs.Lines, Has.Some.Contains("services: list services: HTTP 500 InternalError: injected fault 500; retrying in"));
            Assert.That(source.Health.Source.Degraded, Is.False, "healthy again once the calls work");
        });
    }

    [Test]
    public async Task Too_many_requests_waits_for_the_retry_after_the_server_asked_for()
    {
        PutService("web", 1, "10.244.1.1");
        _server.Inject(EndpointSlices, ApiVerb.List, new Fault.Status(429, RetryAfterSeconds: 1));

        var source = await StartAsync();

        Assert.Multiple(() =>
        {
            Assert.That(source.Served(), Is.EqualTo(new[] { ServedLine(1, "10.244.1.1") }));
            Assert.That(Errors(EndpointSlices, "429"), Is.EqualTo(1));
            Assert.That(source.Logs.Lines, Has.Some.Contains("HTTP 429 TooManyRequests").And.Contains("retrying in 1000 ms"),
                "the delay is the server's Retry-After (1 s), not the few-ms backoff of the test settings");
        });
    }

    [Test]
    public async Task A_slow_response_times_out_and_is_retried()
    {
        PutService("web", 1, "10.244.1.1");
        _server.Inject(Nodes, ApiVerb.List, new Fault.Slow(TimeSpan.FromSeconds(5)));

        var source = await StartAsync(requestTimeout: TimeSpan.FromMilliseconds(300));

        Assert.Multiple(() =>
        {
            Assert.That(Errors(Nodes, "timeout"), Is.EqualTo(1));
            Assert.That(source.Source.ThisNode?.Zone, Is.EqualTo("zone-1"));
            Assert.That(source.Served(), Is.EqualTo(new[] { ServedLine(1, "10.244.1.1") }));
        });
    }

    [Test]
    public async Task A_malformed_object_is_reported_and_skipped_while_the_others_are_programmed()
    {
        PutService("good", 1, "10.244.1.1");
        var badPort = ApiJson.Service("apps", "bad-port", "10.96.0.2");
        badPort["spec"]!["ports"]![0]!["port"] = "eighty";
        Store.Put(Services, badPort);
        PutSlice("bad-port", "10.244.2.1");
        Store.Put(Services, ApiJson.Service("apps", "bad-ip", "10.96.300.3"));
        PutService("also-good", 4, "10.244.4.1");

        var source = await StartAsync();

        Assert.Multiple(() =>
        {
            Assert.That(source.Served(), Is.EqualTo(new[] { ServedLine(1, "10.244.1.1"), ServedLine(4, "10.244.4.1") }));
            Assert.That(source.Source.RejectedObjects(), Is.EquivalentTo(new[]
            {
                "services apps/bad-port: spec.ports[0].port: expected an integer, got 'eighty'",
                "services apps/bad-ip: spec.clusterIPs[0]: '10.96.300.3' is not a valid IP address",
            }));
            Assert.That(source.Kubernetes.ObjectsRejected.Value(KubernetesMetrics.ResourceLabel(Services)), Is.EqualTo(2));
            Assert.That(source.Logs.Lines.Where(line => line.StartsWith("Error", StringComparison.Ordinal)), Has.Exactly(2).Contains("Skipped a malformed services"));
        });

        // A bad edit of a working Service keeps its last good state; the fix is applied.
        var broken = ApiJson.Service("apps", "good", "10.96.0.1");
        broken["spec"]!["ports"]![0]!["protocol"] = "TCPX";
        Store.Put(Services, broken);
        await source.UntilAsync(() => source.Source.RejectedObjects().Any(r => r.StartsWith("services apps/good: spec.ports[0].protocol: unknown protocol 'TCPX'")),
            "the bad edit is reported");
        Assert.That(source.Served(), Does.Contain(ServedLine(1, "10.244.1.1")), "the last good state stays programmed");
        Store.Put(Services, ApiJson.Service("apps", "good", "10.96.0.1", port: 81));
        await source.UntilServedAsync("10.96.0.1:81/tcp -> 10.244.1.1:8080", ServedLine(4, "10.244.4.1"));
        Assert.That(source.Source.RejectedObjects(), Has.None.StartsWith("services apps/good"));
    }

    [Test]
    public async Task A_malformed_object_is_reported_once_not_again_at_every_relist()
    {
        PutService("good", 1, "10.244.1.1");
        Store.Put(Services, ApiJson.Service("apps", "bad-ip", "10.96.300.3"));
        var source = await StartAsync();

        Store.Put(Nodes, ApiJson.Node("node-c", "192.168.0.12")); // the version moves on past what the Service watch saw
        Store.Compact();
        Store.EndWatches();
        await source.UntilAsync(() => Relists(Services, "gone") == 1 && Store.OpenWatches(Services) == 1, "the Services relisted");

        Assert.Multiple(() =>
        {
            Assert.That(source.Logs.Lines.Count(line => line.Contains("Skipped a malformed services")), Is.EqualTo(1));
            Assert.That(source.Kubernetes.ObjectsRejected.Value(KubernetesMetrics.ResourceLabel(Services)), Is.EqualTo(1));
            Assert.That(source.Source.RejectedObjects(), Has.Count.EqualTo(1), "still skipped, and still listed as such");
            Assert.That(source.Served(), Is.EqualTo(new[] { ServedLine(1, "10.244.1.1") }));
        });
    }

    [Test]
    public async Task A_rotated_token_file_is_read_again_after_a_401()
    {
        var directory = Directory.CreateTempSubdirectory("prt-token-");
        try
        {
            var tokenPath = Path.Combine(directory.FullName, "token");
            await File.WriteAllTextAsync(tokenPath, "token-1\n");
            _server.RequiredToken = "token-1";
            PutService("web", 1, "10.244.1.1");
            var source = await StartAsync(connection: ApiSourceUnderTest.ConnectionTo(_server, new FileTokenProvider(tokenPath)));

            // The server moves to the new token first; the file follows (as a kubelet rotation races).
            _server.RequiredToken = "token-2";
            Store.EndWatches();
            await source.UntilAsync(() => _server.Requests.Any(r => r.Status == 401), "a request was refused");
            var written = File.GetLastWriteTimeUtc(tokenPath);
            await File.WriteAllTextAsync(tokenPath, "token-2\n");
            File.SetLastWriteTimeUtc(tokenPath, written.AddSeconds(2)); // same size: the new time alone must trigger the re-read
            PutService("api", 2, "10.244.2.1");

            await source.UntilServedAsync(ServedLine(1, "10.244.1.1"), ServedLine(2, "10.244.2.1"));
            Assert.That(_server.Requests.Last().Authorization, Is.EqualTo("Bearer token-2"));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Test]
    public async Task While_the_api_is_down_the_last_state_is_served_and_the_source_is_degraded_then_it_converges()
    {
        PutService("web", 1, "10.244.1.1");
        var source = await StartAsync();
        source.ClearWriteLog();

        _server.Down = true;
        await source.UntilAsync(() => source.Health.Source.Degraded, "degraded while the API is down");
        var condition = source.Health.Source;
        Assert.Multiple(() =>
        {
            Assert.That(condition.Reason, Does.Contain("connection").IgnoreCase.Or.Contain("reset").IgnoreCase.Or.Contain("ended").IgnoreCase, condition.Reason);
            Assert.That(condition.Since, Is.Not.Null);
            Assert.That(source.Kubernetes.ApiUp.Value, Is.Zero);
            Assert.That(source.Served(), Is.EqualTo(new[] { ServedLine(1, "10.244.1.1") }), "nothing is flushed");
            Assert.That(source.WriteLog(), Is.Empty, "no write at all while the API is down");
        });

        PutSlice("web", "10.244.1.1", "10.244.1.2");
        _server.Down = false;

        await source.UntilServedAsync(ServedLine(1, "10.244.1.1", "10.244.1.2"));
        await source.UntilAsync(() => !source.Health.Source.Degraded && source.Kubernetes.ApiUp.Value == 1, "healthy again");
        Assert.That(source.Maps.Violations, Is.Empty);
    }

    [TestCase(null, "plain", TestName = "Without_a_proxy_name_only_unlabelled_services_are_served")]
    [TestCase("ours", "ours", TestName = "With_a_proxy_name_only_services_labelled_with_it_are_served")]
    public async Task Label_rules(string? proxyName, string expectedService)
    {
        _server.IgnoreLabelSelector = true; // the client must filter on its own too
        var services = new (string Name, int N, Dictionary<string, string>? Labels)[]
        {
            ("plain", 1, null),
            ("headless", 2, new() { [ProxyLabelFilter.HeadlessLabel] = "" }),
            ("other", 3, new() { [ProxyLabelFilter.ServiceProxyNameLabel] = "other" }),
            ("ours", 4, new() { [ProxyLabelFilter.ServiceProxyNameLabel] = "ours" }),
        };
        foreach (var (name, n, labels) in services)
        {
            Store.Put(Services, ApiJson.Service("apps", name, $"10.96.0.{n}", labels: labels));
            Store.Put(EndpointSlices, ApiJson.EndpointSlice("apps", $"{name}-x", name, 8080, [$"10.244.{n}.1"], labels: labels));
        }

        var source = await StartAsync(serviceProxyName: proxyName);

        var n0 = services.Single(s => s.Name == expectedService).N;
        var selector = _server.RequestsFor(Services, ApiVerb.List).First().Query["labelSelector"];
        Assert.Multiple(() =>
        {
            Assert.That(source.Served(), Is.EqualTo(new[] { ServedLine(n0, $"10.244.{n0}.1") }));
            Assert.That(selector, Is.EqualTo(proxyName is null
                ? "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless"
                : "service.kubernetes.io/service-proxy-name=ours,!service.kubernetes.io/headless"));
            Assert.That(_server.RequestsFor(EndpointSlices, ApiVerb.List).First().Query["labelSelector"], Is.EqualTo(selector));
        });
    }

    [Test]
    public async Task A_service_relabelled_to_another_proxy_leaves_the_dataplane()
    {
        PutService("web", 1, "10.244.1.1");
        PutService("api", 2, "10.244.2.1");
        var source = await StartAsync();

        Store.Put(Services, ApiJson.Service("apps", "api", "10.96.0.2", labels: new Dictionary<string, string> { [ProxyLabelFilter.ServiceProxyNameLabel] = "other" }));

        await source.UntilServedAsync(ServedLine(1, "10.244.1.1"));
    }

    [Test]
    public async Task A_bookmark_moves_the_resource_version_so_a_reconnect_needs_no_relist()
    {
        PutService("web", 1, "10.244.1.1");
        var source = await StartAsync();
        await source.UntilAsync(() => Store.OpenWatches(Services) == 1 && Store.OpenWatches(EndpointSlices) == 1, "both watches are open");

        Store.Put(Nodes, ApiJson.Node("node-c", "192.168.0.12")); // moves the global resourceVersion past what the Service watch saw
        Store.SendBookmarks(Services);
        var bookmarked = Store.ResourceVersion;
        await source.UntilAsync(() => source.Source.ResourceVersion(Services) == bookmarked.ToString(), "the bookmark was read");
        Store.Compact();
        Store.EndWatches();
        PutService("api", 2, "10.244.2.1");

        await source.UntilServedAsync(ServedLine(1, "10.244.1.1"), ServedLine(2, "10.244.2.1"));
        Assert.Multiple(() =>
        {
            Assert.That(Relists(Services, "gone"), Is.Zero, "Services resumed from the bookmark's resourceVersion");
            Assert.That(Relists(EndpointSlices, "gone"), Is.EqualTo(1), "EndpointSlices had no bookmark: their version was compacted");
            Assert.That(Restarts(Services, "closed"), Is.GreaterThanOrEqualTo(1));
        });
    }

    [Test]
    public async Task Nothing_is_synced_until_every_resource_was_listed()
    {
        PutService("web", 1, "10.244.1.1");
        _server.Inject(Nodes, ApiVerb.List, new Fault.Status(500), times: 1000);
        _source = await ApiSourceUnderTest.CreateAsync(_server);
        _source.Start();

        await _source.UntilAsync(() => _source.Logs.Lines.Any(l => l.Contains("Listed endpointslices")) && _source.Logs.Lines.Any(l => l.Contains("Listed services")) &&
                                       Errors(Nodes, "500") >= 3, "Services and slices listed, Nodes failing");
        Assert.Multiple(() =>
        {
            Assert.That(_source.Source.Synced, Is.False);
            Assert.That(_source.Syncs, Is.Zero, "no sync from an incomplete view");
            Assert.That(_source.Health.Source.Degraded, Is.True);
            Assert.That(_source.Health.Source.Reason, Does.StartWith("nodes: list nodes: HTTP 500"));
        });

        _server.ClearFaults();
        await _source.UntilServedAsync(ServedLine(1, "10.244.1.1"));
        Assert.That(_source.Source.Synced, Is.True);
    }
}
