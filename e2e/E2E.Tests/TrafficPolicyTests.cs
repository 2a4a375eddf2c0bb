using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.E2E.Tests;

/// <summary>
/// Which endpoints serve which traffic, with the real daemon: the node is <c>e2e-node</c> (a Node object in the
/// manifest directory gives its zone); an endpoint is "local" when its <c>nodeName</c> is that. A client outside the
/// node (<see cref="NodeTopology.AddExternalClient"/>) uses the NodePort; the client pod uses the ClusterIP.
/// </summary>
[TestFixture]
public sealed class TrafficPolicyTests : ProxiedNodeFixture
{
    private const int NodePort = 30080;
    private const int HealthCheckNodePort = 32100;
    private const string ThisNode = "e2e-node";

    private ExternalClient _external = null!;

    private protected override string[] DaemonArguments(ProxiedNode node) => ["--host-interfaces", $"{node.Topology.Prefix}up0"];

    private IPEndPoint NodePortEndpoint => new(_external.NodeAddress, NodePort);

    [SetUp]
    public void AddTheExternalClient()
    {
        _external = Node.Topology.AddExternalClient();
        Node.Manifests.Write("node.yaml", $"""
            apiVersion: v1
            kind: Node
            metadata: {"{"}name: {ThisNode}, labels: {"{"}topology.kubernetes.io/zone: zone-a{"}"}{"}"}

            """);
    }

    [Test]
    public async Task External_traffic_policy_local_keeps_the_client_ip_and_uses_only_local_endpoints()
    {
        await ApplyAsync("externalTrafficPolicy: Local", [(0, ThisNode, ""), (1, ThisNode, ""), (2, "other-node", "")],
            expectLocal: 2);

        var external = await ServiceClient.TallyAsync(_external.Namespace, NodePortEndpoint, count: 24);
        var internalTally = await ServiceClient.TallyAsync(Node.ClientNamespace, Node.Service.Vip, count: 24);
        var health = await HealthCheckAsync(200);

        Assert.Multiple(() =>
        {
            Assert.That(external.Keys, Is.SubsetOf(Names(0, 1)), "external traffic: local endpoints only");
            Assert.That(Node.Servers[0].Peers.Concat(Node.Servers[1].Peers).Select(p => p.Address), Does.Contain(_external.Address),
                "the backend sees the external client's own address");
            Assert.That(internalTally.Keys, Is.EquivalentTo(Names(0, 1, 2)), "traffic from a pod to the ClusterIP: the cluster set");
            Assert.That(health?.Status, Is.EqualTo(200), health?.Body);
            Assert.That(LocalEndpoints(health), Is.EqualTo(2));
        });
    }

    [Test]
    public async Task Without_a_local_endpoint_external_traffic_gets_no_answer_and_the_health_check_port_says_503()
    {
        await ApplyAsync("externalTrafficPolicy: Local", [(0, "other-node", ""), (1, "other-node", "")], expectLocal: 0);

        var outcome = await ServiceClient.TryConnectAsync(_external.Namespace, NodePortEndpoint, TimeSpan.FromSeconds(2));
        var fromPod = await ServiceClient.AskOnceAsync(Node.ClientNamespace, Node.Service.Vip, TimeSpan.FromSeconds(3));
        var noLocal = await HealthCheckAsync(503);

        await ApplyAsync("externalTrafficPolicy: Local", [(0, "other-node", ""), (1, ThisNode, "")], expectLocal: 1);
        var withLocal = await HealthCheckAsync(200);
        var nowAnswered = await ServiceClient.AskOnceAsync(_external.Namespace, NodePortEndpoint, TimeSpan.FromSeconds(3));

        Assert.Multiple(() =>
        {
            Assert.That(outcome.TimedOut, Is.True, $"dropped, not rejected: {outcome}");
            Assert.That(fromPod, Does.StartWith("backend-"), "the ClusterIP still serves pods");
            Assert.That(noLocal?.Status, Is.EqualTo(503), noLocal?.Body);
            Assert.That(LocalEndpoints(noLocal), Is.EqualTo(0));
            Assert.That(withLocal?.Status, Is.EqualTo(200), withLocal?.Body);
            Assert.That(nowAnswered, Is.EqualTo(ProxiedNode.BackendName(1)));
        });
    }

    [Test]
    public async Task Internal_traffic_policy_local_uses_only_this_nodes_endpoints()
    {
        await ApplyAsync("internalTrafficPolicy: Local", [(0, "other-node", ""), (1, ThisNode, ""), (2, "other-node", "")], expectLocal: 1);

        var tally = await ServiceClient.TallyAsync(Node.ClientNamespace, Node.Service.Vip, count: 20);

        Assert.That(tally.Keys, Is.EquivalentTo(Names(1)));
    }

    [Test]
    public async Task A_service_with_only_terminating_endpoints_keeps_serving()
    {
        const string terminating = ", conditions: {ready: false, serving: true, terminating: true}";
        await ApplyAsync("", [(0, ThisNode, terminating), (1, ThisNode, terminating)], expectLocal: null, expectCount: 2);

        var tally = await ServiceClient.TallyAsync(Node.ClientNamespace, Node.Service.Vip, count: 20);

        Assert.That(tally.Keys, Is.SubsetOf(Names(0, 1)).And.Not.Empty);
    }

    [Test]
    public async Task Zone_hints_steer_traffic_to_this_nodes_zone()
    {
        await ApplyAsync("", [(0, "n0", ", zone: zone-a, hints: {forZones: [{name: zone-a}]}"),
            (1, "n1", ", zone: zone-b, hints: {forZones: [{name: zone-b}]}"),
            (2, "n2", ", zone: zone-b, hints: {forZones: [{name: zone-b}]}")], expectLocal: null, expectCount: 1);

        var tally = await ServiceClient.TallyAsync(Node.ClientNamespace, Node.Service.Vip, count: 20);

        Assert.That(tally.Keys, Is.EquivalentTo(Names(0)), "zone-a is this node's zone (its Node object's label)");
    }

    [Test]
    public async Task Healthz_and_livez_answer_the_kube_proxy_way()
    {
        var healthz = await NetnsHttp.TryGetAsync(Node.NodeNamespace, ProxiedNode.HealthzEndpoint, "/healthz");
        var livez = await NetnsHttp.TryGetAsync(Node.NodeNamespace, ProxiedNode.HealthzEndpoint, "/livez");

        Assert.That(healthz?.Status, Is.EqualTo(200));
        Assert.That(livez?.Status, Is.EqualTo(200));
        using var body = JsonDocument.Parse(healthz!.Body);
        Assert.Multiple(() =>
        {
            Assert.That(body.RootElement.TryGetProperty("lastUpdated", out _), Is.True, healthz.Body);
            Assert.That(body.RootElement.TryGetProperty("currentTime", out _), Is.True, healthz.Body);
            Assert.That(body.RootElement.GetProperty("nodeEligible").GetBoolean(), Is.True, healthz.Body);
        });
    }

    /// <summary>
    /// Writes the Service (LoadBalancer with a health check node port, plus <paramref name="policy"/>) and a slice of the
    /// given backends (index, nodeName, extra YAML), then waits until the frontends show it.
    /// </summary>
    private async Task ApplyAsync(string policy, (int Index, string NodeName, string Extra)[] endpoints, int? expectLocal, int? expectCount = null)
    {
        var service = Node.Service;
        Node.Manifests.Write(ManifestDirectory.ServiceFile, $"""
            apiVersion: v1
            kind: Service
            metadata: {"{"}name: {service.Name}, namespace: {service.Namespace}{"}"}
            spec:
              type: LoadBalancer
              clusterIP: {service.Vip.Address}
              healthCheckNodePort: {HealthCheckNodePort}
              {policy}
              ports:
              - {"{"}name: {service.PortName}, protocol: TCP, port: {service.Vip.Port}, targetPort: {service.TargetPort}, nodePort: {NodePort}{"}"}

            """);
        Node.Manifests.Write(ManifestDirectory.EndpointSliceFile, $"""
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata:
              name: {service.Name}-e2e01
              namespace: {service.Namespace}
              labels: {"{"}kubernetes.io/service-name: {service.Name}{"}"}
            addressType: IPv4
            ports:
            - {"{"}name: {service.PortName}, protocol: TCP, port: {service.TargetPort}{"}"}
            endpoints:
            {string.Concat(endpoints.Select(e => $"- {{addresses: [{Node.Topology.Backends[e.Index].Address}], nodeName: {e.NodeName}{e.Extra}}}\n"))}
            """);
        var (synced, took) = await Poll.UntilAsync(() => Task.FromResult(
            PinnedNatMaps.Frontend(Node.PinRoot, service) is { } fe && (expectLocal is null || fe.LocalCount == expectLocal) &&
            (expectCount is null || fe.BackendCount == expectCount) && NodePortProgrammed()
                ? "synced" : null), TimeSpan.FromSeconds(10));
        await TestContext.Out.WriteLineAsync($"programmed after {took.TotalMilliseconds:0} ms:\n{Node.RunCli("dump", "--bpffs-root", Node.PinRoot)}");
        Assert.That(synced, Is.Not.Null, "the Service never reached the expected frontends");
    }

    private static int? LocalEndpoints(NetnsHttp.Response? response) =>
        response is null ? null : JsonDocument.Parse(response.Body).RootElement.GetProperty("localEndpoints").GetInt32();

    private bool NodePortProgrammed() =>
        JsonDocument.Parse(Node.RunCli("dump", "--bpffs-root", Node.PinRoot, "-o", "json")).RootElement.GetProperty("frontends")
            .EnumerateArray().Any(fe => fe.GetProperty("frontend").GetString() == $"{_external.NodeAddress}:{NodePort}/tcp");

    /// <summary>The health check node port's answer, once it is <paramref name="expected"/> (the servers follow each sync; at most 5 s).</summary>
    private async Task<NetnsHttp.Response?> HealthCheckAsync(int expected)
    {
        NetnsHttp.Response? last = null;
        await Poll.UntilAsync(async () =>
        {
            last = await NetnsHttp.TryGetAsync(Node.NodeNamespace, new IPEndPoint(IPAddress.Loopback, HealthCheckNodePort), "/");
            return last?.Status == expected ? last : null;
        }, TimeSpan.FromSeconds(5));
        return last;
    }
}
