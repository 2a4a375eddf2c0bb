using System.Text.Json.Nodes;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi;
using static ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi.FakeApiStore;

namespace ProxyReplacement.ServiceProxy.Tests.Kubernetes;

/// <summary>The Kubernetes source's policy inputs (Pods, Namespaces, NetworkPolicies) against the fake API server.</summary>
[NonParallelizable]
public sealed class PolicySourceTests
{
    private FakeApiServer _server = null!;
    private ApiSourceUnderTest? _source;

    [SetUp]
    public async Task StartServerAsync()
    {
        _server = await FakeApiServer.StartAsync();
        _server.RequiredToken = "test-token";
        _server.Store.Put(Nodes, ApiJson.Node("node-a", "192.168.0.10"));
        _server.Store.Put(Namespaces, Json("""{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop","labels":{"team":"a","kubernetes.io/metadata.name":"shop"}}}"""));
        _server.Store.Put(Pods, Pod("web-1", "10.244.1.5", "node-a"));
        _server.Store.Put(Pods, Pod("web-2", "10.244.2.5", "node-b"));
        _server.Store.Put(NetworkPolicies, Policy("deny-all", """{"podSelector":{}}"""));
    }

    [TearDown]
    public async Task StopAsync()
    {
        if (_source is not null)
            await _source.DisposeAsync();
        await _server.DisposeAsync();
    }

    private static JsonObject Json(string text) => JsonNode.Parse(text)!.AsObject();

    private static JsonObject Pod(string name, string ip, string node) => Json($$$"""
        {"apiVersion":"v1","kind":"Pod","metadata":{"name":"{{{name}}}","namespace":"shop","labels":{"app":"web"}},
         "spec":{"nodeName":"{{{node}}}","containers":[{"name":"c","ports":[{"name":"http","containerPort":8080}]}]},
         "status":{"phase":"Running","podIP":"{{{ip}}}","podIPs":[{"ip":"{{{ip}}}"}]}}
        """);

    private static JsonObject Policy(string name, string spec) => Json($$$"""
        {"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"{{{name}}}","namespace":"shop"},"spec":{{{spec}}}}
        """);

    [Test]
    public async Task Pods_namespaces_and_policies_are_listed_and_follow_their_watches()
    {
        _source = await ApiSourceUnderTest.CreateAsync(_server, networkPolicy: true);
        var changes = 0;
        _source.Source.PolicyInputsChanged += () => Interlocked.Increment(ref changes);
        await _source.StartAndSyncAsync();

        var inputs = _source.Source.PolicyInputs;
        Assert.Multiple(() =>
        {
            Assert.That(inputs.Pods.Keys.Select(k => k.ToString()).Order(), Is.EqualTo(new[] { "shop/web-1", "shop/web-2" }));
            Assert.That(inputs.Pods[new ObjectKey("shop", "web-1")].NamedPorts.Single(), Is.EqualTo(new NamedContainerPort("http", PolicyProtocol.Tcp, 8080)));
            Assert.That(inputs.Namespaces["shop"].Labels["team"], Is.EqualTo("a"));
            Assert.That(inputs.Policies.Keys.Single(), Is.EqualTo(new ObjectKey("shop", "deny-all")));
            Assert.That(inputs.Rejected, Is.Empty);
        });

        var before = Volatile.Read(ref changes);
        _server.Store.Put(Pods, Pod("web-3", "10.244.1.6", "node-a"));
        _server.Store.Delete(NetworkPolicies, "shop", "deny-all");
        await _source.UntilAsync(() => _source.Source.PolicyInputs.Pods.Count == 3 && _source.Source.PolicyInputs.Policies.Count == 0,
            "the new pod and the deleted policy arrived through the watches");
        Assert.That(Volatile.Read(ref changes), Is.GreaterThan(before));
    }

    [Test]
    public async Task A_malformed_policy_is_reported_with_its_reason_and_the_others_stay()
    {
        _server.Store.Put(NetworkPolicies, Policy("bad", """{"podSelector":{},"ingress":[{"from":[{"ipBlock":{"cidr":"10.0.0.0/40"}}]}]}"""));
        _source = await ApiSourceUnderTest.CreateAsync(_server, networkPolicy: true);
        await _source.StartAndSyncAsync();

        var inputs = _source.Source.PolicyInputs;
        Assert.Multiple(() =>
        {
            Assert.That(inputs.Policies.Keys.Single(), Is.EqualTo(new ObjectKey("shop", "deny-all")));
            var problem = inputs.Rejected.Single();
            Assert.That(problem.Policy, Is.EqualTo(new ObjectKey("shop", "bad")));
            Assert.That(problem.Reason, Is.EqualTo(PolicyProblemReason.InvalidCidr));
            Assert.That(problem.Skipped, Is.True);
            Assert.That(_source.Logs.Lines, Has.Some.Contains("networkpolicies").And.Contains("10.0.0.0/40"));
        });

        _server.Store.Put(NetworkPolicies, Policy("bad", """{"podSelector":{},"ingress":[{"from":[{"ipBlock":{"cidr":"10.0.0.0/24"}}]}]}"""));
        await _source.UntilAsync(() => _source.Source.PolicyInputs is { Rejected.Count: 0, Policies.Count: 2 }, "the fixed policy is enforced, its problem gone");
    }

    [Test]
    public async Task Deleting_a_rejected_policy_clears_its_problem()
    {
        _server.Store.Put(NetworkPolicies, Policy("bad", """{"podSelector":{},"policyTypes":["Sideways"]}"""));
        _source = await ApiSourceUnderTest.CreateAsync(_server, networkPolicy: true);
        await _source.StartAndSyncAsync();
        Assert.That(_source.Source.PolicyInputs.Rejected.Single().Reason, Is.EqualTo(PolicyProblemReason.PolicyTypes));

        _server.Store.Delete(NetworkPolicies, "shop", "bad");

        await _source.UntilAsync(() => _source.Source.PolicyInputs.Rejected.Count == 0, "the deleted policy's problem is gone");
    }

    [Test]
    public async Task Without_network_policy_nothing_of_it_is_requested()
    {
        _source = await ApiSourceUnderTest.CreateAsync(_server, networkPolicy: false);
        await _source.StartAndSyncAsync();

        Assert.Multiple(() =>
        {
            Assert.That(_server.Requests.Select(r => r.Resource).Distinct(), Is.EquivalentTo(new[] { Services, EndpointSlices, Nodes }));
            Assert.That(_source.Source.PolicyInputs, Is.SameAs(ServiceProxy.Sources.PolicyInputs.Empty));
        });
    }

    [Test]
    public async Task The_source_is_synced_only_once_the_policy_kinds_are_listed_too()
    {
        // The policy list fails until the faults are cleared (a fixed count raced the reflector's short test backoff:
        // its retries could succeed between the count being seen and the assertion).
        _server.Inject(NetworkPolicies, ApiVerb.List, new Fault.Status(500), times: 1_000);
        _source = await ApiSourceUnderTest.CreateAsync(_server, networkPolicy: true);
        _source.Start();
        await _source.UntilAsync(() => _server.RequestsFor(NetworkPolicies, ApiVerb.List).Count() >= 2, "the policy list failed at least twice");
        Assert.That(_source.Source.Synced, Is.False, "no first sync without the policies: it would leave isolated pods open");
        _server.ClearFaults();
        await _source.UntilAsync(() => _source.Source.Synced, "synced once the policies listed");
        Assert.That(_source.Source.PolicyInputs.Policies, Has.Count.EqualTo(1));
    }
}
