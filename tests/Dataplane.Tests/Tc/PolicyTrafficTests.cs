using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.Tc;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tests.Support;
using TcApi = ProxyReplacement.Dataplane.Tc.Tc;

namespace ProxyReplacement.Dataplane.Tests.Tc;

/// <summary>
/// NetworkPolicy on real veths: pr_tc_from_wl at TC ingress and pr_tc_to_wl at TC egress of both pods' node-side
/// veths, as the daemon attaches them. Proves on this kernel what the golden tests take as given: a connection the
/// node itself opens reaches its pod with ingress_ifindex 0 (so a deny-all pod still answers the kubelet), while the
/// same connection forwarded from another pod's veth is checked; and a whole TCP exchange between isolated pods.
/// </summary>
[TestFixture(DataplaneVariant.Fast)]
[TestFixture(DataplaneVariant.Compat)]
[Category("Privileged")]
public sealed class PolicyTrafficTests(DataplaneVariant variant)
{
    private const ushort ServerPort = 8080;
    private const uint DenyAllSet = 3;
    private const uint AllowSet = 4;
    private static readonly TimeSpan Refused = TimeSpan.FromSeconds(1);

    private NodeTopology _topology = null!;
    private CoreDataplane _dataplane = null!;
    private readonly List<TcAttachment> _attachments = [];

    private PodInterface Client => _topology.Client;
    private PodInterface Backend => _topology.Backends[0];

    [SetUp]
    public void SetUp()
    {
        Privileged.Require();
        _dataplane = TestVariants.LoadCore(variant);
        _topology = NodeTopology.Create(backendCount: 1);
        _dataplane.WriteConfig(DataplaneConfig.Default);
        _attachments.AddRange(NetworkNamespace.Run(_topology.NodeNamespace, () => new[]
        {
            TcApi.Attach(Client.HostIfIndex, TcDirection.Ingress, _dataplane.FromWorkload),
            TcApi.Attach(Client.HostIfIndex, TcDirection.Egress, _dataplane.ToWorkload),
            TcApi.Attach(Backend.HostIfIndex, TcDirection.Ingress, _dataplane.FromWorkload),
            TcApi.Attach(Backend.HostIfIndex, TcDirection.Egress, _dataplane.ToWorkload),
        }));
    }

    [TearDown]
    public void TearDown()
    {
        foreach (var attachment in _attachments)
            attachment.Dispose();
        _attachments.Clear();
        _dataplane?.Dispose();
        _topology?.Dispose();
    }

    [Test]
    public async Task The_node_reaches_a_deny_all_pod_and_another_pod_does_not()
    {
        _dataplane.PolicyEndpoints.Update(new PolicyEndpointKey4(Backend.Address), new PolicyEndpoint(DenyAllSet, DenyAllSet));
        using var server = TcpEchoServer.Start(Backend.Namespace, new IPEndPoint(Backend.Address, ServerPort));

        using (var fromNode = await NetnsSockets.ConnectTcpAsync(_topology.NodeNamespace, new IPEndPoint(Backend.Address, ServerPort)))
            Assert.That(await NetnsSockets.SendLineAndReadEchoAsync(fromNode, "kubelet probe"), Is.EqualTo("kubelet probe"),
                "locally generated: ingress_ifindex 0 at the veth's TC egress; its replies pass the pod's deny-all egress");

        Assert.That(async () => await NetnsSockets.ConnectTcpAsync(Client.Namespace, new IPEndPoint(Backend.Address, ServerPort), Refused),
            Throws.InstanceOf<OperationCanceledException>(), "forwarded from the client's veth: checked, dropped");
        var counters = _dataplane.ReadCounters();
        Assert.Multiple(() =>
        {
            Assert.That(counters[CounterReason.DropPolicyIngressPort], Is.GreaterThanOrEqualTo(1UL), "the client's SYN (and retries)");
            Assert.That(counters[CounterReason.PolicyIngressAllowed], Is.Zero, "the node's connection needed no check");
        });
    }

    [Test]
    public async Task Isolated_pods_talk_both_ways_over_an_allowed_flow()
    {
        // The client: egress to the backend's port only, no ingress. The backend: ingress from the client only, no egress.
        _dataplane.PolicyEndpoints.Update(new PolicyEndpointKey4(Client.Address), new PolicyEndpoint(DenyAllSet, AllowSet));
        _dataplane.PolicyEndpoints.Update(new PolicyEndpointKey4(Backend.Address), new PolicyEndpoint(AllowSet, DenyAllSet));
        _dataplane.PolicyPorts.Update(new PolicyPortKey(AllowSet, 6, ServerPort, 16), new PolicyPortValue(1));
        _dataplane.PolicyPeers.Update(new PolicyPeerKey4(AllowSet, 1, new IPNetwork(Backend.Address, 32)), new PolicyPeerValue(PolicyVerdict.Allow, 1));
        _dataplane.PolicyPeers.Update(new PolicyPeerKey4(AllowSet, 1, new IPNetwork(Client.Address, 32)), new PolicyPeerValue(PolicyVerdict.Allow, 2));
        using var server = TcpEchoServer.Start(Backend.Namespace, new IPEndPoint(Backend.Address, ServerPort));
        using var clientServer = TcpEchoServer.Start(Client.Namespace, new IPEndPoint(Client.Address, ServerPort));

        using (var client = await NetnsSockets.ConnectTcpAsync(Client.Namespace, new IPEndPoint(Backend.Address, ServerPort)))
            Assert.That(await NetnsSockets.SendLineAndReadEchoAsync(client, "allowed both ways"), Is.EqualTo("allowed both ways"));

        Assert.That(async () => await NetnsSockets.ConnectTcpAsync(Backend.Namespace, new IPEndPoint(Client.Address, ServerPort), Refused),
            Throws.InstanceOf<OperationCanceledException>(), "the other way round is a new flow: the backend's deny-all egress");
        var counters = _dataplane.ReadCounters();
        Assert.Multiple(() =>
        {
            Assert.That(counters[CounterReason.PolicyEgressAllowed], Is.EqualTo(1UL));
            Assert.That(counters[CounterReason.PolicyIngressAllowed], Is.EqualTo(1UL));
            Assert.That(counters[CounterReason.DropPolicyEgressPort], Is.GreaterThanOrEqualTo(1UL));
        });
    }
}
