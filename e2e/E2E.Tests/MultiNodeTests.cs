using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.E2E.Tests;

/// <summary>
/// Three nodes, each with its own daemon (default options), one Kubernetes view: traffic between nodes that needs no
/// external service mode. A pod reaches a ClusterIP whose only backend is on another node (DNAT at the pod's veth on
/// node a, the reply reverse-NATed as it enters node a's underlay interface); with externalTrafficPolicy: Local, the
/// node holding the endpoint answers the external client and the others drop; an established cross-node connection
/// survives a restart (SIGTERM or SIGKILL) of the client node's daemon.
/// </summary>
[TestFixture]
public sealed class MultiNodeTests : ProxiedClusterFixture
{
    [Test]
    public async Task A_pod_reaches_a_cluster_ip_whose_only_backend_is_on_another_node()
    {
        var a0 = Cluster.Backend("a0").Pod;

        using var connection = await NetnsSockets.ConnectTcpAsync(a0.Namespace, Web.Http, TimeSpan.FromSeconds(5));
        var (backend, peer) = await ServiceClient.AskPeerAsync(connection, TimeSpan.FromSeconds(5));
        var again = await ServiceClient.AskAsync(connection, "again", TimeSpan.FromSeconds(5));
        var tally = await ServiceClient.TallyAsync(a0.Namespace, Web.Http, count: 5);

        Assert.Multiple(() =>
        {
            Assert.That(backend, Is.EqualTo("backend-b0"));
            Assert.That(again, Is.EqualTo("backend-b0"));
            Assert.That(peer.Address, Is.EqualTo(a0.Address), "a pod's own address reaches the backend");
            Assert.That(tally.Keys, Is.EqualTo(new[] { "backend-b0" }));
        });
    }

    [TestCase(false, TestName = "{m}(SIGTERM)")]
    [TestCase(true, TestName = "{m}(SIGKILL)")]
    public async Task An_established_cross_node_connection_survives_a_restart_of_the_client_nodes_daemon(bool kill)
    {
        var a1 = Cluster.Backend("a1").Pod;
        using var connection = await NetnsSockets.ConnectTcpAsync(a1.Namespace, Web.Http, TimeSpan.FromSeconds(5));
        var before = await ServiceClient.AskPeerAsync(connection, TimeSpan.FromSeconds(5));

        var gap = await NodeA.RestartDaemonAsync(kill, () => Web.IsProgrammed(NodeA.PinRoot, NodeA.Address));
        var after = await ServiceClient.AskPeerAsync(connection, TimeSpan.FromSeconds(5));
        await TestContext.Out.WriteLineAsync($"{(kill ? "SIGKILL" : "SIGTERM")}: node a ran {gap.TotalMilliseconds:0} ms without a ready daemon");

        Assert.Multiple(() =>
        {
            Assert.That(before.Backend, Is.EqualTo("backend-b0"));
            Assert.That(after, Is.EqualTo(before), "the same connection, backend and client address across the restart");
        });
    }

    [Test]
    public async Task A_pod_reaches_a_udp_cluster_ip_whose_only_backend_is_on_another_node()
    {
        var c1 = Cluster.Backend("c1").Pod;
        using var socket = NetnsSockets.CreateUdp(c1.Namespace);

        var (payload, from) = await NetnsSockets.UdpRoundTripAsync(socket, Web.Udp, "over udp", TimeSpan.FromSeconds(5));

        Assert.Multiple(() =>
        {
            Assert.That(payload, Is.EqualTo("over udp"));
            Assert.That(from, Is.EqualTo(Web.Udp), "the answer comes from the ClusterIP");
            Assert.That(Cluster.Backend("b0").Udp.Peers.Select(p => p.Address), Does.Contain(c1.Address));
        });
    }

    [Test]
    public async Task External_traffic_policy_local_is_answered_by_the_node_with_the_endpoint_and_dropped_by_the_others()
    {
        var dropsBefore = NodeA.Counters()[CounterReason.DropNoLocalBackend];

        var attempts = await Task.WhenAll(
            ServiceClient.TryConnectAsync(Cluster.External.Namespace, NodeA.Endpoint(LocalWeb.HttpNodePort), TimeSpan.FromSeconds(1.5)),
            ServiceClient.TryConnectAsync(Cluster.External.Namespace, NodeC.Endpoint(LocalWeb.HttpNodePort), TimeSpan.FromSeconds(1.5)));
        using var onB = await NetnsSockets.ConnectTcpAsync(Cluster.External.Namespace, NodeB.Endpoint(LocalWeb.HttpNodePort), TimeSpan.FromSeconds(5));
        var (backend, peer) = await ServiceClient.AskPeerAsync(onB, TimeSpan.FromSeconds(5));
        var dropsAfter = NodeA.Counters()[CounterReason.DropNoLocalBackend];

        Assert.Multiple(() =>
        {
            Assert.That(attempts[0].TimedOut, Is.True, $"node a has no local endpoint: dropped, not answered or rejected ({attempts[0]})");
            Assert.That(attempts[1].TimedOut, Is.True, $"node c has no local endpoint: dropped, not answered or rejected ({attempts[1]})");
            Assert.That(dropsAfter, Is.GreaterThan(dropsBefore), "node a counts drop_no_local_backend");
            Assert.That(backend, Is.EqualTo("backend-b0"));
            Assert.That(peer.Address, Is.EqualTo(ClusterTopology.ExternalAddress), "Local keeps the client's address");
        });
    }
}
