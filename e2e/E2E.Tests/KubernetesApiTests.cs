using System.Net;
using System.Net.Sockets;
using System.Text;
using NUnit.Framework.Interfaces;
using ProxyReplacement.Dataplane.Tests.Support;
using ProxyReplacement.E2E.Tests.Support;
using ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi;
using static ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi.FakeApiStore;

namespace ProxyReplacement.E2E.Tests;

/// <summary>
/// The real daemon (<c>run --kubeconfig FILE</c>) against the fake Kubernetes API server, over TLS with the
/// CA and a bearer token from the kubeconfig. The server listens on the node namespace's loopback
/// (a socket made in that namespace, handed to Kestrel), where the daemon runs; traffic is real TCP
/// from the client pod to backend pods.
/// </summary>
[Category("Privileged")]
[NonParallelizable]
public sealed class KubernetesApiTests
{
    private static readonly IPEndPoint ApiEndpoint = new(IPAddress.Loopback, 6443);
    private static readonly TimeSpan PropagationLimit = TimeSpan.FromSeconds(10);
    private const string Token = "e2e-token";

    private ProxiedNode? _node;
    private FakeApiServer? _server;
    private TestCertificates? _certificates;

    private ProxiedNode Node => _node!;
    private FakeApiServer Server => _server!;
    private ServiceUnderTest Web => Node.Service;

    [SetUp]
    public async Task StartAsync()
    {
        Privileged.Require();
        _node = ProxiedNode.Create(backendCount: 3);
        try
        {
            _certificates = TestCertificates.Create();
            var store = new FakeApiStore();
            store.Put(Nodes, ApiJson.Node("e2e-node", "192.168.0.1", zone: "zone-a"));
            store.Put(Services, ApiJson.Service(Web.Namespace, Web.Name, Web.Vip.Address.ToString(), Web.Vip.Port, Web.TargetPort, Web.PortName));
            PutSlice(store, 0, 1, 2);
            _server = await FakeApiServer.StartAsync(store, _certificates, NetnsListener.Create(Node.NodeNamespace, ApiEndpoint), ApiEndpoint.Port);
            _server.RequiredToken = Token;

            var daemon = Node.StartDaemon(sourceArguments: ["--kubeconfig", WriteKubeconfig()]);
            var took = await Node.WaitUntilReadyAsync(daemon);
            await TestContext.Out.WriteLineAsync($"{daemon.Label} ready {took.TotalMilliseconds:0} ms after start, programmed from the API");
        }
        catch
        {
            await TestContext.Out.WriteLineAsync(Node.Diagnostics());
            await StopAsync();
            throw;
        }
    }

    [TearDown]
    public async Task StopAsync()
    {
        try
        {
            if (_node is not null && TestContext.CurrentContext.Result.Outcome.Status == TestStatus.Failed)
                await TestContext.Out.WriteLineAsync(Node.Diagnostics());
        }
        finally
        {
            if (_server is not null)
                await _server.DisposeAsync();
            _node?.Dispose();
            _certificates?.Dispose();
            _server = null;
            _node = null;
            _certificates = null;
        }
    }

    [Test]
    public async Task Objects_created_updated_and_deleted_through_the_api_show_up_in_traffic()
    {
        var initial = await ServiceClient.TallyAsync(Node.ClientNamespace, Web.Vip, count: 30);
        Assert.That(initial.Keys, Is.EquivalentTo(Names(0, 1, 2)), "the Service and slice listed at start");

        PutSlice(Server.Store, 0, 1);
        await UntilBackendsAsync([0, 1], "slice updated: 3 -> 2 backends");

        var second = new IPEndPoint(IPAddress.Parse("10.96.0.11"), 80);
        Server.Store.Put(Services, ApiJson.Service(Web.Namespace, "second", second.Address.ToString(), 80, Web.TargetPort, Web.PortName));
        Server.Store.Put(EndpointSlices, ApiJson.EndpointSlice(Web.Namespace, "second-x1", "second", Web.TargetPort,
            [Node.Topology.Backends[2].Address.ToString()], Web.PortName));
        var (reached, _) = await Poll.UntilAsync(async () =>
        {
            try
            {
                var tally = await ServiceClient.TallyAsync(Node.ClientNamespace, second, count: 6);
                return tally.Keys.SequenceEqual(Names(2)) ? tally : null;
            }
            catch (SocketException)
            {
                return null; // not programmed yet: an unclaimed Service CIDR address is refused
            }
        }, PropagationLimit);
        Assert.That(reached, Is.Not.Null, "a Service created through the API answers from its backend");

        Server.Store.Delete(Services, Web.Namespace, Web.Name);
        var (refused, elapsed) = await Poll.UntilAsync(async () =>
        {
            var outcome = await ServiceClient.TryConnectAsync(Node.ClientNamespace, Web.Vip, TimeSpan.FromSeconds(2));
            Assert.That(outcome.TimedOut, Is.False, $"connect to {Web.Vip} hung instead of failing: {outcome}");
            return outcome.Connected ? null : (object)outcome;
        }, PropagationLimit);
        await TestContext.Out.WriteLineAsync($"Service deleted through the API: refused after {elapsed.TotalMilliseconds:0} ms ({refused})");
        Assert.That(refused, Is.Not.Null, "after the Service is deleted, new connections are refused");
        Assert.That(Server.Requests, Has.All.Matches<RecordedRequest>(r => r.Authorization == $"Bearer {Token}"), "the kubeconfig's token on every request");
    }

    [Test]
    public async Task While_the_api_is_down_traffic_keeps_flowing_and_health_says_degraded_then_it_converges()
    {
        Server.Down = true;
        var (degraded, _) = await Poll.UntilAsync(async () =>
        {
            var response = await NetnsHttp.TryGetAsync(Node.NodeNamespace, ProxiedNode.HealthzEndpoint, "/healthz");
            return response?.Body.Contains("\"source\":\"degraded\"", StringComparison.Ordinal) == true ? response : null;
        }, PropagationLimit);
        Assert.That(degraded, Is.Not.Null, "/healthz reports the source as degraded while the API is down");
        var during = await ServiceClient.TallyAsync(Node.ClientNamespace, Web.Vip, count: 30);
        var metrics = await NetnsHttp.TryGetAsync(Node.NodeNamespace, ProxiedNode.MetricsEndpoint, "/metrics");
        var ready = await NetnsHttp.TryGetAsync(Node.NodeNamespace, ProxiedNode.HealthzEndpoint, "/readyz");
        await TestContext.Out.WriteLineAsync($"API down: /healthz {degraded!.Status} {degraded.Body}; traffic {Describe(during)}");
        Assert.Multiple(() =>
        {
            Assert.That(degraded.Status, Is.EqualTo(200), "liveness stays tied to the dataplane being served");
            Assert.That(degraded.Body, Does.Contain("\"sourceReason\":"));
            Assert.That(ready?.Status, Is.EqualTo(200), "still ready: the last state is served");
            Assert.That(during.Keys, Is.EquivalentTo(Names(0, 1, 2)), "the dataplane keeps serving its last state");
            Assert.That(metrics?.Body, Does.Contain("proxyreplacement_kubernetes_api_up 0"));
        });

        PutSlice(Server.Store, 1); // changed while the daemon cannot see it
        Server.Store.Compact();    // and the history is gone: the daemon must relist
        Server.Down = false;

        await UntilBackendsAsync([1], "after the outage");
        var (healthy, _) = await Poll.UntilAsync(async () =>
        {
            var response = await NetnsHttp.TryGetAsync(Node.NodeNamespace, ProxiedNode.HealthzEndpoint, "/healthz");
            return response?.Body.Contains("\"source\":\"ok\"", StringComparison.Ordinal) == true ? response : null;
        }, TimeSpan.FromSeconds(30));
        var after = await NetnsHttp.TryGetAsync(Node.NodeNamespace, ProxiedNode.MetricsEndpoint, "/metrics");
        Assert.Multiple(() =>
        {
            Assert.That(healthy, Is.Not.Null, "/healthz says ok again");
            Assert.That(after?.Body, Does.Contain("proxyreplacement_kubernetes_relists_total{resource=\"endpointslices\",reason=\"gone\"} 1"));
        });
    }

    private void PutSlice(FakeApiStore store, params int[] backends) =>
        store.Put(EndpointSlices, ApiJson.EndpointSlice(Web.Namespace, $"{Web.Name}-e2e01", Web.Name, Web.TargetPort,
            backends.Select(i => Node.Topology.Backends[i].Address.ToString()), Web.PortName));

    private async Task UntilBackendsAsync(int[] backends, string step)
    {
        var expected = Names(backends);
        IReadOnlyDictionary<string, int>? last = null;
        var (converged, elapsed) = await Poll.UntilAsync(async () =>
        {
            last = await ServiceClient.TallyAsync(Node.ClientNamespace, Web.Vip, count: 24);
            return last.Keys.ToHashSet().SetEquals(expected) ? last : null;
        }, TimeSpan.FromSeconds(30));
        await TestContext.Out.WriteLineAsync($"{step}: {(converged is null ? "NOT converged" : "converged")} after {elapsed.TotalMilliseconds:0} ms ({Describe(last!)})");
        Assert.That(converged, Is.Not.Null, $"{step}: answers came from {Describe(last!)}, expected exactly {string.Join(", ", expected)}");
    }

    private string WriteKubeconfig()
    {
        var path = Path.Combine(Node.WorkDirectory, "kubeconfig");
        var ca = Convert.ToBase64String(Encoding.UTF8.GetBytes(_certificates!.CaPem));
        File.WriteAllText(path, $"""
            apiVersion: v1
            kind: Config
            current-context: e2e
            clusters:
            - name: fake
              cluster:
                server: https://{ApiEndpoint}
                certificate-authority-data: {ca}
            contexts:
            - name: e2e
              context: {"{cluster: fake, user: proxy}"}
            users:
            - name: proxy
              user: {"{token: " + Token + "}"}
            """);
        return path;
    }

    private static string[] Names(params int[] indexes) => indexes.Select(ProxiedNode.BackendName).ToArray();

    private static string Describe(IReadOnlyDictionary<string, int> tally) => string.Join(", ", tally.Select(entry => $"{entry.Key}={entry.Value}"));
}
