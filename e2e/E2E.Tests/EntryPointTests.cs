using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.E2E.Tests;

/// <summary>
/// Every way into a Service on one node, with the real daemon and real sockets: a client outside the node (its own
/// namespace on the node's host data interface, see <see cref="NodeTopology.AddExternalClient"/>) reaches the
/// Service through its NodePort, its LoadBalancer IP (routed via the node, as a load balancer in ipMode VIP delivers
/// it) and its external IP; source ranges hold for one client address and not for another; a pod and a host process
/// reach the NodePort from inside; a pod that is its Service's only backend reaches itself (hairpin); an established
/// NodePort connection survives a daemon restart. The socket hooks run on a test cgroup (mode tcp), for the host
/// process.
/// </summary>
[TestFixture]
public sealed class EntryPointTests : ProxiedNodeFixture
{
    private const int NodePort = 30080;
    private const int UdpNodePort = 30053;
    private const int UdpTargetPort = 5353;
    private static readonly IPAddress LoadBalancerIp = IPAddress.Parse("192.0.2.20");
    private static readonly IPAddress ExternalIp = IPAddress.Parse("192.0.2.40");
    /// <summary>A second address of the external client, outside the LoadBalancer's source ranges.</summary>
    private static readonly IPAddress OutsiderAddress = IPAddress.Parse("192.168.77.3");
    private static readonly IPEndPoint SelfVip = new(IPAddress.Parse("10.96.0.11"), 80);

    private ExternalClient _external = null!;

    protected override bool WithSocketLbCgroup => true;

    private protected override string[] DaemonArguments(ProxiedNode node) =>
        ["--host-interfaces", $"{node.Topology.Prefix}up0", "--cgroup-path", node.DaemonCgroupPath!, "--socket-lb-mode", "tcp"];

    private IPEndPoint NodePortEndpoint => new(_external.NodeAddress, NodePort);

    [SetUp]
    public async Task ExposeTheServiceAsync()
    {
        _external = Node.Topology.AddExternalClient(OutsiderAddress);
        _external.RouteViaNode(LoadBalancerIp);
        _external.RouteViaNode(ExternalIp);
        Node.Manifests.Write(ManifestDirectory.ServiceFile, ServiceYaml(Node.Service));
        Node.Manifests.Write(ManifestDirectory.EndpointSliceFile, SliceYaml(Node.Service, Node.BackendAddresses(InitialBackends)));
        // The daemon picks up the new host interface and its address (a NodePort address) within its 1 s polls.
        var (frontends, took) = await Poll.UntilAsync(() => Task.FromResult(
            NodePortFrontendsIn(Node.RunCli("dump", "--bpffs-root", Node.PinRoot, "-o", "json")) is var rows && rows.Contains($"{_external.NodeAddress}:{NodePort}/tcp")
                ? rows : null), TimeSpan.FromSeconds(10));
        await TestContext.Out.WriteLineAsync($"NodePort frontends on {_external.NodeAddress} after {took.TotalMilliseconds:0} ms");
        Assert.That(frontends, Is.Not.Null, "the NodePort frontend on the new host address never appeared");
    }

    [Test]
    public async Task From_outside_the_node_port_reaches_every_backend_and_dump_names_the_entry_points()
    {
        var tally = await ServiceClient.TallyAsync(_external.Namespace, NodePortEndpoint, count: 30);
        var dump = Node.RunCli("dump", "--bpffs-root", Node.PinRoot);
        await TestContext.Out.WriteLineAsync($"30 connections to {NodePortEndpoint}: {Describe(tally)}\n{dump}");

        Assert.Multiple(() =>
        {
            Assert.That(tally.Keys, Is.EquivalentTo(Names(InitialBackends)));
            Assert.That(dump, Does.Contain($"{_external.NodeAddress}:{NodePort}/tcp").And.Contain("NodePort"));
            Assert.That(dump, Does.Contain($"{LoadBalancerIp}:80/tcp").And.Contain("LoadBalancer"));
            Assert.That(dump, Does.Contain($"{ExternalIp}:80/tcp").And.Contain("ExternalIP"));
            Assert.That(dump, Does.Contain($"{Node.Service.Namespace}/{Node.Service.Name}:{Node.Service.PortName}"), "the Service by name");
            Assert.That(dump, Does.Contain("NODEPORT ADDRESSES").And.Contain(_external.NodeAddress.ToString()));
            Assert.That(dump, Does.Not.Contain("127.0.0.1:30080"), "loopback is no NodePort address");
        });
    }

    [Test]
    public async Task From_outside_the_load_balancer_ip_and_the_external_ip_answer()
    {
        var viaLoadBalancer = await ServiceClient.TallyAsync(_external.Namespace, new IPEndPoint(LoadBalancerIp, 80), count: 12);
        var viaExternalIp = await ServiceClient.TallyAsync(_external.Namespace, new IPEndPoint(ExternalIp, 80), count: 12);

        Assert.Multiple(() =>
        {
            Assert.That(viaLoadBalancer.Values.Sum(), Is.EqualTo(12));
            Assert.That(viaExternalIp.Values.Sum(), Is.EqualTo(12));
            Assert.That(viaLoadBalancer.Keys.Union(viaExternalIp.Keys), Is.SubsetOf(Names(InitialBackends)));
        });
    }

    [Test]
    public async Task Source_ranges_admit_one_client_address_drop_another_and_leave_the_node_port_open()
    {
        var lb = new IPEndPoint(LoadBalancerIp, 80);

        var allowed = await AskFromAsync(_external.Address, lb);
        var denied = await TryAskFromAsync(OutsiderAddress, lb, TimeSpan.FromSeconds(2));
        var nodePortFromOutsider = await AskFromAsync(OutsiderAddress, NodePortEndpoint);
        var counters = Node.RunCli("dump", "--bpffs-root", Node.PinRoot, "-o", "json");

        Assert.Multiple(() =>
        {
            Assert.That(allowed, Does.StartWith("backend-"), $"{_external.Address} is inside loadBalancerSourceRanges");
            Assert.That(denied, Is.Null, $"{OutsiderAddress} is outside loadBalancerSourceRanges: no answer");
            Assert.That(nodePortFromOutsider, Does.StartWith("backend-"), "source ranges do not apply to the NodePort");
            Assert.That(JsonDocument.Parse(counters).RootElement.GetProperty("counters").GetProperty("drop_source_range").GetUInt64(),
                Is.GreaterThanOrEqualTo(1UL));
        });
    }

    [Test]
    public async Task Udp_through_the_node_port_is_answered_from_the_node_port()
    {
        var echoes = InitialBackends.Select(i => Node.Topology.Backends[i])
            .Select(backend => UdpEchoServer.Start(backend.Namespace, new IPEndPoint(backend.Address, UdpTargetPort))).ToList();
        using var stop = new Disposer(echoes);
        using var socket = NetnsSockets.CreateUdp(_external.Namespace);
        var target = new IPEndPoint(_external.NodeAddress, UdpNodePort);

        var (payload, from) = await NetnsSockets.UdpRoundTripAsync(socket, target, "ping over udp", TimeSpan.FromSeconds(5));

        Assert.Multiple(() =>
        {
            Assert.That(payload, Is.EqualTo("ping over udp"));
            Assert.That(from, Is.EqualTo(target), "the answer comes from the address the client sent to");
            Assert.That(echoes.SelectMany(echo => echo.Peers).Select(p => p.Address), Does.Contain(_external.Address),
                "the backend saw the client's own address");
        });
    }

    [Test]
    public async Task From_inside_a_pod_and_a_host_process_reach_the_node_port()
    {
        var fromPod = await ServiceClient.TallyAsync(Node.ClientNamespace, NodePortEndpoint, count: 12);
        var fromHost = CgroupClient.Run(Node.ClientCgroup!.Path, Node.NodeNamespace, "tcp", _external.NodeAddress.ToString(), NodePort.ToString(), "host");

        Assert.Multiple(() =>
        {
            Assert.That(fromPod.Values.Sum(), Is.EqualTo(12));
            Assert.That(fromPod.Keys, Is.SubsetOf(Names(InitialBackends)));
            Assert.That(fromHost.Error, Is.Null, fromHost.ToString());
            Assert.That(fromHost.Reply, Does.StartWith("backend-"), "translated at connect() by the socket hooks");
            Assert.That(fromHost.Peer, Is.EqualTo(NodePortEndpoint), "getpeername() shows the NodePort");
        });
    }

    [Test]
    public async Task Loopback_node_ports_are_not_served()
    {
        // Documented choice (README): like kube-proxy's nftables mode, 127.0.0.1:nodePort is no NodePort address.
        var outcome = await ServiceClient.TryConnectAsync(Node.NodeNamespace, new IPEndPoint(IPAddress.Loopback, NodePort), TimeSpan.FromSeconds(2));

        Assert.That(outcome.Error, Is.EqualTo(SocketError.ConnectionRefused), outcome.ToString());
    }

    [Test]
    public async Task A_pod_that_is_its_services_only_backend_reaches_itself_on_both_paths()
    {
        var self = Node.Topology.Backends[0];
        var selfService = new ServiceUnderTest(Node.Service.Namespace, "self", "http", SelfVip, Node.Service.TargetPort);
        Node.Manifests.Write("self-service.yaml", ServiceYaml(selfService, nodePorts: false));
        Node.Manifests.Write("self-slice.yaml", SliceYaml(selfService, [self.Address]));
        var (ready, _) = await Poll.UntilAsync(() => Task.FromResult(PinnedNatMaps.Frontend(Node.PinRoot, selfService) is { BackendCount: 1 } ? "programmed" : null),
            TimeSpan.FromSeconds(10));
        Assert.That(ready, Is.Not.Null, "the self Service was never programmed");

        // TC path: the test process is in no cgroup, so nothing translates at connect().
        var viaTc = await ServiceClient.AskOnceAsync(self.Namespace, SelfVip, TimeSpan.FromSeconds(5));
        // Socket path: in the cgroup, connect() goes straight to the pod's own address.
        var viaSocket = CgroupClient.Run(Node.ClientCgroup!.Path, self.Namespace, "tcp", SelfVip.Address.ToString(), SelfVip.Port.ToString(), "me");
        var counters = JsonDocument.Parse(Node.RunCli("dump", "--bpffs-root", Node.PinRoot, "-o", "json")).RootElement.GetProperty("counters");

        Assert.Multiple(() =>
        {
            Assert.That(viaTc, Is.EqualTo(ProxiedNode.BackendName(0)));
            Assert.That(viaSocket.Reply, Does.StartWith(ProxiedNode.BackendName(0)), viaSocket.ToString());
            Assert.That(counters.GetProperty("nat_hairpin").GetUInt64(), Is.GreaterThanOrEqualTo(1UL), "the TC path went through the hairpin address");
        });
    }

    [Test]
    public async Task An_established_node_port_connection_survives_a_daemon_restart()
    {
        using var connection = await NetnsSockets.ConnectTcpAsync(_external.Namespace, NodePortEndpoint, TimeSpan.FromSeconds(5));
        var before = await ServiceClient.AskAsync(connection, "before");

        Node.Daemon!.Terminate(TimeSpan.FromSeconds(15));
        var restarted = Node.StartDaemon(DaemonArguments(Node));
        await Node.WaitUntilReadyAsync(restarted);
        var after = await ServiceClient.AskAsync(connection, "after", TimeSpan.FromSeconds(5));

        Assert.That(after, Is.EqualTo(before), "the same connection, on the same backend, across the restart");
    }

    private async Task<string> AskFromAsync(IPAddress source, IPEndPoint target)
    {
        using var socket = await NetnsSockets.ConnectTcpAsync(_external.Namespace, target, TimeSpan.FromSeconds(5), new IPEndPoint(source, 0));
        return await ServiceClient.AskAsync(socket, "who");
    }

    private async Task<string?> TryAskFromAsync(IPAddress source, IPEndPoint target, TimeSpan timeout)
    {
        try
        {
            using var socket = await NetnsSockets.ConnectTcpAsync(_external.Namespace, target, timeout, new IPEndPoint(source, 0));
            return await ServiceClient.AskAsync(socket, "who", timeout);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
            return null;
        }
    }

    private static List<string> NodePortFrontendsIn(string dumpJson) =>
        JsonDocument.Parse(dumpJson).RootElement.GetProperty("frontends").EnumerateArray()
            .Where(fe => fe.GetProperty("kind").GetString() == "NodePort")
            .Select(fe => fe.GetProperty("frontend").GetString()!).ToList();

    /// <summary>The Service as a LoadBalancer: TCP with a NodePort, an ingress IP, an external IP and source ranges; UDP with a NodePort.</summary>
    private string ServiceYaml(ServiceUnderTest service, bool nodePorts = true) => nodePorts
        ? $"""
           apiVersion: v1
           kind: Service
           metadata: {"{"}name: {service.Name}, namespace: {service.Namespace}{"}"}
           spec:
             type: LoadBalancer
             clusterIP: {service.Vip.Address}
             externalIPs: [{ExternalIp}]
             loadBalancerSourceRanges: [{_external.Address}/32]
             ports:
             - {"{"}name: {service.PortName}, protocol: TCP, port: {service.Vip.Port}, targetPort: {service.TargetPort}, nodePort: {NodePort}{"}"}
             - {"{"}name: dns, protocol: UDP, port: 53, targetPort: {UdpTargetPort}, nodePort: {UdpNodePort}{"}"}
           status:
             loadBalancer:
               ingress: [{"{"}ip: {LoadBalancerIp}{"}"}]

           """
        : $"""
           apiVersion: v1
           kind: Service
           metadata: {"{"}name: {service.Name}, namespace: {service.Namespace}{"}"}
           spec:
             clusterIP: {service.Vip.Address}
             ports:
             - {"{"}name: {service.PortName}, protocol: TCP, port: {service.Vip.Port}, targetPort: {service.TargetPort}{"}"}

           """;

    private static string SliceYaml(ServiceUnderTest service, IEnumerable<IPAddress> backends) => $"""
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata:
          name: {service.Name}-e2e01
          namespace: {service.Namespace}
          labels: {"{"}kubernetes.io/service-name: {service.Name}{"}"}
        addressType: IPv4
        ports:
        - {"{"}name: {service.PortName}, protocol: TCP, port: {service.TargetPort}{"}"}
        - {"{"}name: dns, protocol: UDP, port: {UdpTargetPort}{"}"}
        endpoints:
        {string.Concat(backends.Select(address => $"- {{addresses: [{address}], conditions: {{ready: true}}, nodeName: e2e-node}}\n"))}
        """;

    private sealed class Disposer(IEnumerable<IDisposable> items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var item in items)
                item.Dispose();
        }
    }
}
