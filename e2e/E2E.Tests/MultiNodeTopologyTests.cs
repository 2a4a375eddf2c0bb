using System.Net;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.E2E.Tests;

/// <summary>
/// The multi-node harness on its own, without any daemon: the CNI-style routes carry pod traffic between nodes, and
/// the external client reaches a pod IP directly (the "direct" baseline a NodePort path is compared against).
/// </summary>
[TestFixture]
public sealed class MultiNodeTopologyTests : ProxiedClusterFixture
{
    protected override bool WithDaemons => false;

    [Test]
    public async Task A_pod_reaches_pods_on_other_nodes_by_their_pod_ips_over_tcp_and_udp()
    {
        var a0 = Cluster.Backend("a0").Pod;
        var b0 = Cluster.Backend("b0");
        var c1 = Cluster.Backend("c1");

        using var tcp = await NetnsSockets.ConnectTcpAsync(a0.Namespace, new IPEndPoint(b0.Pod.Address, ClusterBackend.HttpPort), TimeSpan.FromSeconds(5));
        var (backend, peer) = await ServiceClient.AskPeerAsync(tcp, TimeSpan.FromSeconds(5));
        using var udp = NetnsSockets.CreateUdp(a0.Namespace);
        var (echoed, from) = await NetnsSockets.UdpRoundTripAsync(udp, new IPEndPoint(c1.Pod.Address, ClusterBackend.UdpPort), "to c1", TimeSpan.FromSeconds(5));

        Assert.Multiple(() =>
        {
            Assert.That(backend, Is.EqualTo("backend-b0"));
            Assert.That(peer.Address, Is.EqualTo(a0.Address), "routed, not translated");
            Assert.That(echoed, Is.EqualTo("to c1"));
            Assert.That(from, Is.EqualTo(new IPEndPoint(c1.Pod.Address, ClusterBackend.UdpPort)));
        });
    }

    [Test]
    public async Task The_external_client_reaches_a_pod_ip_directly_and_pods_on_one_node_reach_each_other()
    {
        var b1 = Cluster.Backend("b1");
        var a1 = Cluster.Backend("a1");

        using var fromOutside = await NetnsSockets.ConnectTcpAsync(Cluster.External.Namespace, new IPEndPoint(b1.Pod.Address, ClusterBackend.HttpPort), TimeSpan.FromSeconds(5));
        var (backend, peer) = await ServiceClient.AskPeerAsync(fromOutside, TimeSpan.FromSeconds(5));
        using var sameNode = await NetnsSockets.ConnectTcpAsync(Cluster.Backend("a0").Pod.Namespace, new IPEndPoint(a1.Pod.Address, ClusterBackend.HttpPort), TimeSpan.FromSeconds(5));
        var neighbour = await ServiceClient.AskAsync(sameNode, "hello", TimeSpan.FromSeconds(5));

        Assert.Multiple(() =>
        {
            Assert.That(backend, Is.EqualTo("backend-b1"));
            Assert.That(peer.Address, Is.EqualTo(ClusterTopology.ExternalAddress));
            Assert.That(neighbour, Is.EqualTo("backend-a1"));
        });
    }
}
