using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.SocketLb;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tests.Support;

namespace ProxyReplacement.Dataplane.Tests.SocketLb;

/// <summary>
/// Real sockets through the cgroup hooks: a one-node topology with the TC programs on the pod veths
/// (as the daemon runs them) and the socket programs attached to a test cgroup. Client processes
/// (sock_client.py) run in the client pod's namespace, inside the test cgroup or outside it; the
/// counters and the conntrack map show which path served them.
/// </summary>
[TestFixture(DataplaneVariant.Fast)]
[TestFixture(DataplaneVariant.Compat)]
[Category("Privileged")]
[NonParallelizable]
public sealed class SocketLbTrafficTests(DataplaneVariant variant)
{
    private static readonly IPAddress Vip = IPAddress.Parse("10.96.0.10");
    private static readonly IPAddress EmptyVip = IPAddress.Parse("10.96.0.11");
    private const ushort TcpPort = 80;
    private const ushort UdpPort = 53;
    private const ushort BackendPort = 8080;

    private SocketLbNode _node = null!;
    private TcpEchoServer _tcpServer = null!;
    private UdpEchoServer _udpServer = null!;

    private NodeTopology Topology => _node.Topology;
    private CoreDataplane Core => _node.Core;
    private PodInterface ClientPod => Topology.Client;
    private PodInterface Backend => Topology.Backends[0];

    [SetUp]
    public void SetUp()
    {
        Privileged.Require();
        _node = SocketLbNode.Create(backendCount: 1, variant);
        Core.Backends.Update(new NatBackendKey(1, 0), new NatBackendValue4(Backend.Address, BackendPort));
        Core.Frontends.Update(new NatFrontendKey4(Vip, TcpPort, L4Protocol.Tcp), new NatFrontendValue(1, backendCount: 1));
        Core.Backends.Update(new NatBackendKey(2, 0), new NatBackendValue4(Backend.Address, BackendPort));
        Core.Frontends.Update(new NatFrontendKey4(Vip, UdpPort, L4Protocol.Udp), new NatFrontendValue(2, backendCount: 1));
        Core.Frontends.Update(new NatFrontendKey4(EmptyVip, TcpPort, L4Protocol.Tcp), new NatFrontendValue(3, backendCount: 0));
        Core.ServiceCidrs.Update(new ServiceCidrKey4(IPAddress.Parse("10.96.0.0"), 12), default);
        Core.SetSocketLbMode(SocketLbMode.Enabled);
        _tcpServer = TcpEchoServer.Start(Backend.Namespace, new IPEndPoint(Backend.Address, BackendPort));
        _udpServer = UdpEchoServer.Start(Backend.Namespace, new IPEndPoint(Backend.Address, BackendPort));
    }

    [TearDown]
    public void TearDown()
    {
        _tcpServer?.Dispose();
        _udpServer?.Dispose();
        _node?.Dispose();
    }

    private SocketClientResult InCgroup(params string[] args) => _node.InCgroup(ClientPod.Namespace, args);

    private SocketClientResult OutsideCgroup(params string[] args) => CgroupClient.Run(null, ClientPod.Namespace, args);

    private ulong Count(CounterReason reason) => _node.Count(reason);

    private string Diagnostics() =>
        _node.Counters() + "; conntrack: " + string.Join(", ", Core.Conntrack.ReadAll().Select(e => e.Key.ToString()));

    [Test]
    public void Tcp_via_the_vip_reaches_the_backend_without_any_tc_nat()
    {
        var result = InCgroup("tcp", Vip.ToString(), TcpPort.ToString(), "hello");

        Assert.Multiple(() =>
        {
            Assert.That(result.Error, Is.Null, result + Diagnostics());
            Assert.That(result.Reply, Is.EqualTo("hello"));
            Assert.That(result.Peer, Is.EqualTo(new IPEndPoint(Vip, TcpPort)), "getpeername() returns the VIP");
            Assert.That(_tcpServer.Peers, Is.EqualTo(new[] { result.Local }), "the backend sees the client itself");
            Assert.That(Core.Conntrack.ReadAll(), Is.Empty, "no conntrack/NAT entry: " + Diagnostics());
            Assert.That(Count(CounterReason.SockConnect), Is.EqualTo(1UL), Diagnostics());
            Assert.That(Count(CounterReason.SockPeernameReversed), Is.GreaterThanOrEqualTo(1UL), Diagnostics());
            Assert.That(Count(CounterReason.NatNewFlow) + Count(CounterReason.NatEstablished) + Count(CounterReason.NatReverse), Is.Zero,
                "the TC programs translated nothing: " + Diagnostics());
            Assert.That(Count(CounterReason.PassNoService), Is.GreaterThan(0UL), "the TC programs saw the packets and passed them");
            Assert.That(Core.SocketReverse.ReadAll(), Is.Empty,
                "a connected socket keeps its translation in its own storage (pr_sk_store4), not in pr_sk_rev4");
            Assert.That(Count(CounterReason.SockStoreFailed), Is.Zero, Diagnostics());
        });
    }

    [Test]
    public void Many_short_tcp_connections_leave_no_reverse_entries_behind()
    {
        // Before socket storage each of these left a pr_sk_rev4 entry until the LRU evicted it.
        for (var i = 0; i < 20; i++)
        {
            var result = InCgroup("tcp", Vip.ToString(), TcpPort.ToString(), $"short-{i}");
            Assert.That((result.Error, result.Reply, result.Peer), Is.EqualTo(((string?)null, $"short-{i}", new IPEndPoint(Vip, TcpPort))),
                result + Diagnostics());
        }

        Assert.Multiple(() =>
        {
            Assert.That(Count(CounterReason.SockConnect), Is.EqualTo(20UL), Diagnostics());
            Assert.That(Core.SocketReverse.ReadAll(), Is.Empty, "closed sockets left entries behind");
            Assert.That(Count(CounterReason.SockStoreFailed), Is.Zero, Diagnostics());
        });
    }

    [Test]
    public void Unconnected_udp_is_answered_from_the_vip()
    {
        var result = InCgroup("udp", Vip.ToString(), UdpPort.ToString(), "query");

        Assert.Multiple(() =>
        {
            Assert.That(result.Error, Is.Null, result + Diagnostics());
            Assert.That(result.Reply, Is.EqualTo("query"));
            Assert.That(result.From, Is.EqualTo(new IPEndPoint(Vip, UdpPort)), "recvmsg() reports the VIP as the sender");
            Assert.That(Core.Conntrack.ReadAll(), Is.Empty, Diagnostics());
            Assert.That(Count(CounterReason.SockSendmsg), Is.EqualTo(1UL), Diagnostics());
            Assert.That(Count(CounterReason.SockRecvmsgReversed), Is.EqualTo(1UL), Diagnostics());
            Assert.That(Core.SocketReverse.ReadAll().Select(e => e.Value), Is.EqualTo(new[] { new SocketReverseValue4(Vip, UdpPort) }));
        });
    }

    [Test]
    public void Connected_udp_is_translated_at_connect_and_sees_the_vip()
    {
        var result = InCgroup("udp-connected", Vip.ToString(), UdpPort.ToString(), "connected");

        Assert.Multiple(() =>
        {
            Assert.That(result.Error, Is.Null, result + Diagnostics());
            Assert.That(result.Reply, Is.EqualTo("connected"));
            Assert.That(result.From, Is.EqualTo(new IPEndPoint(Vip, UdpPort)));
            Assert.That(result.Peer, Is.EqualTo(new IPEndPoint(Vip, UdpPort)));
            Assert.That(Core.Conntrack.ReadAll(), Is.Empty, Diagnostics());
            Assert.That(Count(CounterReason.SockConnect), Is.EqualTo(1UL), Diagnostics());
            Assert.That(Count(CounterReason.SockSendmsg), Is.Zero, "a connected socket's send() does not go through sendmsg4");
        });
    }

    /// <summary>ECONNREFUSED from bpf_set_retval; the compat build (kernels before 5.18) has the kernel's EPERM.</summary>
    [Test]
    public void A_service_without_backends_and_an_unclaimed_service_address_are_refused_at_connect()
    {
        var noBackends = InCgroup("connect", EmptyVip.ToString(), TcpPort.ToString());
        var unclaimed = InCgroup("connect", "10.96.7.7", "80");
        var expected = variant == DataplaneVariant.Compat ? "EPERM" : "ECONNREFUSED";

        TestContext.Out.WriteLine($"refused after {noBackends.Seconds} s and {unclaimed.Seconds} s");
        Assert.Multiple(() =>
        {
            Assert.That(_node.SocketLb.Variant.Variant, Is.EqualTo(variant));
            Assert.That(_node.SocketLb.RefusalErrno, Is.EqualTo(variant == DataplaneVariant.Compat ? Errno.EPERM : Errno.ECONNREFUSED));
            Assert.That(noBackends.Error, Is.EqualTo(expected), noBackends.ToString());
            Assert.That(unclaimed.Error, Is.EqualTo(expected), unclaimed.ToString());
            Assert.That(Count(CounterReason.SockRefuseNoBackend), Is.EqualTo(1UL), Diagnostics());
            Assert.That(Count(CounterReason.SockRefuseUnknownService), Is.EqualTo(1UL), Diagnostics());
            Assert.That(Count(CounterReason.RejectTcpNoBackend) + Count(CounterReason.RejectUnknownService), Is.Zero, "no packet was sent to be rejected");
        });
    }

    [Test]
    public void The_mode_switches_at_run_time_between_the_socket_and_the_tc_path()
    {
        Core.SetSocketLbMode(SocketLbMode.Tcp);
        var udpInTcpMode = InCgroup("udp", Vip.ToString(), UdpPort.ToString(), "a");
        var tcpInTcpMode = InCgroup("tcp", Vip.ToString(), TcpPort.ToString(), "b");
        var afterTcpMode = (Nat: Count(CounterReason.NatNewFlow), Sock: Count(CounterReason.SockConnect), Send: Count(CounterReason.SockSendmsg));

        Core.SetSocketLbMode(SocketLbMode.Disabled);
        var tcpDisabled = InCgroup("tcp", Vip.ToString(), TcpPort.ToString(), "c");
        var afterDisabled = (Nat: Count(CounterReason.NatNewFlow), Sock: Count(CounterReason.SockConnect));

        Core.SetSocketLbMode(SocketLbMode.Enabled);
        var udpEnabled = InCgroup("udp", Vip.ToString(), UdpPort.ToString(), "d");

        Assert.Multiple(() =>
        {
            foreach (var result in new[] { udpInTcpMode, tcpInTcpMode, tcpDisabled, udpEnabled })
                Assert.That(result.Error, Is.Null, result + Diagnostics());
            Assert.That(udpInTcpMode.From, Is.EqualTo(new IPEndPoint(Vip, UdpPort)), "TC reverse NAT answers from the VIP too");
            Assert.That(afterTcpMode, Is.EqualTo((Nat: 1UL, Sock: 1UL, Send: 0UL)), "tcp mode: UDP by TC NAT, TCP at the socket");
            Assert.That(tcpDisabled.Peer, Is.EqualTo(new IPEndPoint(Vip, TcpPort)));
            Assert.That(afterDisabled, Is.EqualTo((Nat: 2UL, Sock: 1UL)), "disabled: TCP by TC NAT");
            Assert.That(Count(CounterReason.SockSendmsg), Is.EqualTo(1UL), "enabled: UDP at the socket");
            Assert.That(Count(CounterReason.NatNewFlow), Is.EqualTo(2UL), Diagnostics());
        });
    }

    [Test]
    public void A_client_outside_the_cgroup_is_served_by_the_tc_path()
    {
        var result = OutsideCgroup("tcp", Vip.ToString(), TcpPort.ToString(), "outside");

        Assert.Multiple(() =>
        {
            Assert.That(result.Error, Is.Null, result + Diagnostics());
            Assert.That(result.Reply, Is.EqualTo("outside"));
            Assert.That(result.Peer, Is.EqualTo(new IPEndPoint(Vip, TcpPort)));
            Assert.That(Count(CounterReason.SockConnect), Is.Zero, "the hooks never saw it");
            Assert.That(Count(CounterReason.NatNewFlow), Is.EqualTo(1UL), Diagnostics());
            Assert.That(Core.Conntrack.TryLookup(new ConntrackKey4(ClientPod.Address, (ushort)result.Local!.Port, Vip, TcpPort, L4Protocol.Tcp), out _),
                Is.True, "the TC path's conntrack entry: " + Diagnostics());
        });
    }

    [Test]
    public void A_host_network_client_in_the_cgroup_reaches_the_service()
    {
        // The node namespace has no TC program on the way out (no pod veth): only the socket hook can serve it.
        var result = _node.InCgroup(Topology.NodeNamespace, "tcp", Vip.ToString(), TcpPort.ToString(), "from the host");

        Assert.Multiple(() =>
        {
            Assert.That(result.Error, Is.Null, result + Diagnostics());
            Assert.That(result.Reply, Is.EqualTo("from the host"));
            Assert.That(result.Peer, Is.EqualTo(new IPEndPoint(Vip, TcpPort)));
            Assert.That(Count(CounterReason.SockConnect), Is.EqualTo(1UL), Diagnostics());
            Assert.That(Core.Conntrack.ReadAll(), Is.Empty, Diagnostics());
        });
    }

    [Test]
    public void Detaching_the_hooks_hands_every_socket_back_to_the_tc_path()
    {
        var links = _node.Hooks.Links();
        Assert.That(links.Keys, Is.EquivalentTo(SocketHooks.All));
        Assert.That(links.Values.Select(l => l.CgroupId), Is.All.EqualTo(Cgroup.Id(_node.Cgroup.Path)), "links on the test cgroup");
        Assert.That(links.Values.Select(l => l.ProgramId), Is.EquivalentTo(_node.SocketLb.Programs.Values.Select(p => p.Id)));

        _node.Hooks.Dispose();
        var result = InCgroup("tcp", Vip.ToString(), TcpPort.ToString(), "after detach");

        Assert.Multiple(() =>
        {
            Assert.That(result.Reply, Is.EqualTo("after detach"), result + Diagnostics());
            Assert.That(Count(CounterReason.SockConnect), Is.Zero);
            Assert.That(Count(CounterReason.NatNewFlow), Is.EqualTo(1UL), Diagnostics());
        });
    }
}
