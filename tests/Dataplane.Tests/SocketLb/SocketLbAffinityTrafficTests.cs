using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tests.Support;

namespace ProxyReplacement.Dataplane.Tests.SocketLb;

/// <summary>
/// ClientIP affinity with real sockets, for both kinds of client: a host-network client (the node
/// namespace, whose cookie is recorded as the host netns, as the daemon records its own) has no TC hook
/// on its path and is balanced at the socket with the host identity; a pod client's unbound socket is
/// left by the hooks to the TC path, which keys affinity by the pod's address. Three backends, so a
/// backend kept by chance over <see cref="Connections"/> connections is unlikely (3 · 3^-10).
/// </summary>
[TestFixture]
[Category("Privileged")]
[NonParallelizable]
public sealed class SocketLbAffinityTrafficTests
{
    private const int Connections = 10;
    private const uint ServiceId = 1;
    private const ushort Port = 80;
    private const ushort BackendPort = 8080;
    private static readonly IPAddress Vip = IPAddress.Parse("10.96.0.20");
    private static readonly NatFrontendKey4 Frontend = new(Vip, Port, L4Protocol.Tcp);

    private SocketLbNode _node = null!;
    private readonly List<TcpEchoServer> _servers = [];

    private NodeTopology Topology => _node.Topology;
    private CoreDataplane Core => _node.Core;

    [SetUp]
    public void SetUp()
    {
        Privileged.Require();
        _node = SocketLbNode.Create(backendCount: 3);
        for (var i = 0; i < Topology.Backends.Count; i++)
            Core.Backends.Update(new NatBackendKey(ServiceId, (uint)i), new NatBackendValue4(Topology.Backends[i].Address, BackendPort));
        Core.Frontends.Update(Frontend, new NatFrontendValue(ServiceId, (uint)Topology.Backends.Count, FrontendFlags.Affinity, affinityTimeoutSeconds: 600));
        Core.SetSocketLbMode(SocketLbMode.Tcp);
        Core.SetHostNetnsCookie(NetworkNamespace.Run(Topology.NodeNamespace, NetnsCookie.OfCurrentThread));
        _servers.AddRange(Topology.Backends.Select(pod => TcpEchoServer.Start(pod.Namespace, new IPEndPoint(pod.Address, BackendPort))));
    }

    [TearDown]
    public void TearDown()
    {
        foreach (var server in _servers)
            server.Dispose();
        _servers.Clear();
        _node?.Dispose();
    }

    private ulong Count(CounterReason reason) => _node.Count(reason);

    private string Diagnostics() =>
        _node.Counters() + "; affinity: " + string.Join(", ", Core.Affinity.ReadAll().Select(e => $"{e.Key.Client} -> {e.Value.BackendAddress}"));

    /// <summary><see cref="Connections"/> TCP exchanges via the VIP from processes in the test cgroup and <paramref name="netns"/>.</summary>
    private List<SocketClientResult> Connect(string netns) =>
        Enumerable.Range(0, Connections)
            .Select(i => _node.InCgroup(netns, "tcp", Vip.ToString(), Port.ToString(), $"hello {i}"))
            .ToList();

    /// <summary>The backend pod whose server accepted the connection from <paramref name="local"/>.</summary>
    private IPAddress? ServedBy(IPEndPoint? local)
    {
        var index = _servers.FindIndex(server => server.Peers.Contains(local));
        return index < 0 ? null : Topology.Backends[index].Address;
    }

    private AffinityValue4 AffinityEntryOf(IPAddress client)
    {
        Assert.That(Core.Affinity.TryLookup(new AffinityKey4(Frontend, client), out var entry), Is.True,
            $"affinity entry of {client}: {Diagnostics()}");
        return entry;
    }

    [Test]
    public void A_host_network_client_keeps_one_backend_chosen_at_the_socket()
    {
        var results = Connect(Topology.NodeNamespace);

        var served = results.Select(r => ServedBy(r.Local)).ToList();
        var entry = AffinityEntryOf(AffinityKey4.HostClient);
        Assert.Multiple(() =>
        {
            Assert.That(results.Select(r => r.Error), Is.All.Null, string.Join("\n", results) + Diagnostics());
            Assert.That(results.Select(r => r.Reply), Is.EqualTo(Enumerable.Range(0, Connections).Select(i => $"hello {i}")));
            Assert.That(results.Select(r => r.Peer), Is.All.EqualTo(new IPEndPoint(Vip, Port)), "getpeername() is the VIP");
            Assert.That(served, Is.All.EqualTo(entry.BackendAddress), "every connection reached the host's affinity backend");
            Assert.That(Core.Affinity.ReadAll().Select(e => e.Key.Client), Is.EqualTo(new[] { AffinityKey4.HostClient }),
                "one client: the host, keyed by its identity, not by the node address routing picked");
            Assert.That(Count(CounterReason.SockConnect), Is.EqualTo((ulong)Connections), Diagnostics());
            Assert.That(Count(CounterReason.SockAffinityHost), Is.EqualTo((ulong)Connections), Diagnostics());
            Assert.That(Count(CounterReason.SockAffinityHit), Is.EqualTo((ulong)Connections - 1), Diagnostics());
            Assert.That(Count(CounterReason.SockPassAffinity), Is.Zero, Diagnostics());
            Assert.That(Core.Conntrack.ReadAll(), Is.Empty, "translated at the socket: no TC NAT");
        });
    }

    [Test]
    public void A_pod_client_in_the_cgroup_is_still_balanced_by_the_tc_path_with_its_own_affinity()
    {
        var results = Connect(Topology.Client.Namespace);

        var served = results.Select(r => ServedBy(r.Local)).ToList();
        var entry = AffinityEntryOf(Topology.Client.Address);
        Assert.Multiple(() =>
        {
            Assert.That(results.Select(r => r.Error), Is.All.Null, string.Join("\n", results) + Diagnostics());
            Assert.That(results.Select(r => r.Peer), Is.All.EqualTo(new IPEndPoint(Vip, Port)));
            Assert.That(served, Is.All.EqualTo(entry.BackendAddress), "every connection reached the pod's affinity backend");
            Assert.That(Core.Affinity.ReadAll().Select(e => e.Key.Client), Is.EqualTo(new[] { Topology.Client.Address }));
            Assert.That(Count(CounterReason.SockPassAffinity), Is.EqualTo((ulong)Connections), "the hooks left every socket to TC: " + Diagnostics());
            Assert.That(Count(CounterReason.SockConnect) + Count(CounterReason.SockAffinityHost), Is.Zero, Diagnostics());
            Assert.That(Count(CounterReason.NatNewFlow), Is.EqualTo((ulong)Connections), Diagnostics());
            Assert.That(Count(CounterReason.AffinityHit), Is.EqualTo((ulong)Connections - 1), Diagnostics());
        });
    }

    [Test]
    public void The_recorded_host_netns_is_the_node_namespace_and_no_other()
    {
        var node = NetworkNamespace.Run(Topology.NodeNamespace, NetnsCookie.OfCurrentThread);

        Assert.Multiple(() =>
        {
            Assert.That(Core.ReadHostNetnsCookie(), Is.EqualTo(node));
            Assert.That(NetworkNamespace.Run(Topology.NodeNamespace, NetnsCookie.OfCurrentThread), Is.EqualTo(node), "stable");
            Assert.That(NetworkNamespace.Run(Topology.Client.Namespace, NetnsCookie.OfCurrentThread), Is.Not.EqualTo(node));
            Assert.That(NetnsCookie.OfCurrentThread(), Is.Not.EqualTo(node), "the test runner's own namespace");
        });
    }
}
