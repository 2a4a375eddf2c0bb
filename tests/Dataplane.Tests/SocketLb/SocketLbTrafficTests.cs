using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.SocketLb;
using ProxyReplacement.Dataplane.Tc;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tests.Support;
using TcApi = ProxyReplacement.Dataplane.Tc.Tc;

namespace ProxyReplacement.Dataplane.Tests.SocketLb;

/// <summary>
/// Real sockets through the cgroup hooks: a one-node topology with the TC programs on the pod veths
/// (as the daemon runs them) and the socket programs attached to a test cgroup. Client processes
/// (sock_client.py) run in the client pod's namespace, inside the test cgroup or outside it; the
/// counters and the conntrack map show which path served them.
/// </summary>
[TestFixture]
[Category("Privileged")]
[NonParallelizable]
public sealed class SocketLbTrafficTests
{
    private static readonly IPAddress Vip = IPAddress.Parse("10.96.0.10");
    private static readonly IPAddress EmptyVip = IPAddress.Parse("10.96.0.11");
    private const ushort TcpPort = 80;
    private const ushort UdpPort = 53;
    private const ushort BackendPort = 8080;

    private NodeTopology _topology = null!;
    private CoreDataplane _core = null!;
    private SocketLoadBalancer _socketLb = null!;
    private TestCgroup _cgroup = null!;
    private CgroupAttachment _hooks = null!;
    private TcpEchoServer _tcpServer = null!;
    private UdpEchoServer _udpServer = null!;
    private readonly List<TcAttachment> _tc = [];

    private PodInterface ClientPod => _topology.Client;
    private PodInterface Backend => _topology.Backends[0];

    [SetUp]
    public void SetUp()
    {
        Privileged.Require();
        _topology = NodeTopology.Create(backendCount: 1);
        _core = CoreDataplane.Load(new DataplaneOptions());
        _core.Backends.Update(new NatBackendKey(1, 0), new NatBackendValue4(Backend.Address, BackendPort));
        _core.Frontends.Update(new NatFrontendKey4(Vip, TcpPort, L4Protocol.Tcp), new NatFrontendValue(1, backendCount: 1));
        _core.Backends.Update(new NatBackendKey(2, 0), new NatBackendValue4(Backend.Address, BackendPort));
        _core.Frontends.Update(new NatFrontendKey4(Vip, UdpPort, L4Protocol.Udp), new NatFrontendValue(2, backendCount: 1));
        _core.Frontends.Update(new NatFrontendKey4(EmptyVip, TcpPort, L4Protocol.Tcp), new NatFrontendValue(3, backendCount: 0));
        _core.ServiceCidrs.Update(new ServiceCidrKey4(IPAddress.Parse("10.96.0.0"), 12), default);
        _core.SetSocketLbMode(SocketLbMode.Enabled);
        _tc.AddRange(NetworkNamespace.Run(_topology.NodeNamespace, () => new[]
        {
            TcApi.Attach(ClientPod.HostIfIndex, TcDirection.Ingress, _core.FromWorkload),
            TcApi.Attach(Backend.HostIfIndex, TcDirection.Ingress, _core.FromWorkload),
        }));
        _tcpServer = TcpEchoServer.Start(Backend.Namespace, new IPEndPoint(Backend.Address, BackendPort));
        _udpServer = UdpEchoServer.Start(Backend.Namespace, new IPEndPoint(Backend.Address, BackendPort));

        _socketLb = SocketLoadBalancer.Load(_core);
        _cgroup = TestCgroup.Create($"{_topology.Prefix}-sock");
        _hooks = _socketLb.Attach(_cgroup.Path);
    }

    [TearDown]
    public void TearDown()
    {
        _hooks?.Dispose();
        _socketLb?.Dispose();
        _cgroup?.Dispose();
        _tcpServer?.Dispose();
        _udpServer?.Dispose();
        foreach (var attachment in _tc)
            attachment.Dispose();
        _tc.Clear();
        _core?.Dispose();
        _topology?.Dispose();
    }

    private SocketClientResult InCgroup(params string[] args) => CgroupClient.Run(_cgroup.Path, ClientPod.Namespace, args);

    private SocketClientResult OutsideCgroup(params string[] args) => CgroupClient.Run(null, ClientPod.Namespace, args);

    private ulong Count(CounterReason reason) => _core.ReadCounters().GetValueOrDefault(reason);

    private string Diagnostics() =>
        "counters: " + string.Join(", ", _core.ReadCounters().Where(c => c.Value > 0).Select(c => $"{c.Key}={c.Value}")) +
        "; conntrack: " + string.Join(", ", _core.Conntrack.ReadAll().Select(e => e.Key.ToString()));

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
            Assert.That(_core.Conntrack.ReadAll(), Is.Empty, "no conntrack/NAT entry: " + Diagnostics());
            Assert.That(Count(CounterReason.SockConnect), Is.EqualTo(1UL), Diagnostics());
            Assert.That(Count(CounterReason.SockPeernameReversed), Is.GreaterThanOrEqualTo(1UL), Diagnostics());
            Assert.That(Count(CounterReason.NatNewFlow) + Count(CounterReason.NatEstablished) + Count(CounterReason.NatReverse), Is.Zero,
                "the TC programs translated nothing: " + Diagnostics());
            Assert.That(Count(CounterReason.PassNoService), Is.GreaterThan(0UL), "the TC programs saw the packets and passed them");
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
            Assert.That(_core.Conntrack.ReadAll(), Is.Empty, Diagnostics());
            Assert.That(Count(CounterReason.SockSendmsg), Is.EqualTo(1UL), Diagnostics());
            Assert.That(Count(CounterReason.SockRecvmsgReversed), Is.EqualTo(1UL), Diagnostics());
            Assert.That(_core.SocketReverse.ReadAll().Select(e => e.Value), Is.EqualTo(new[] { new SocketReverseValue4(Vip, UdpPort) }));
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
            Assert.That(_core.Conntrack.ReadAll(), Is.Empty, Diagnostics());
            Assert.That(Count(CounterReason.SockConnect), Is.EqualTo(1UL), Diagnostics());
            Assert.That(Count(CounterReason.SockSendmsg), Is.Zero, "a connected socket's send() does not go through sendmsg4");
        });
    }

    [Test]
    public void A_service_without_backends_and_an_unclaimed_service_address_are_refused_at_connect()
    {
        var noBackends = InCgroup("connect", EmptyVip.ToString(), TcpPort.ToString());
        var unclaimed = InCgroup("connect", "10.96.7.7", "80");

        TestContext.Out.WriteLine($"refused after {noBackends.Seconds} s and {unclaimed.Seconds} s");
        Assert.Multiple(() =>
        {
            Assert.That(noBackends.Error, Is.EqualTo("ECONNREFUSED"), noBackends.ToString());
            Assert.That(unclaimed.Error, Is.EqualTo("ECONNREFUSED"), unclaimed.ToString());
            Assert.That(Count(CounterReason.SockRefuseNoBackend), Is.EqualTo(1UL), Diagnostics());
            Assert.That(Count(CounterReason.SockRefuseUnknownService), Is.EqualTo(1UL), Diagnostics());
            Assert.That(Count(CounterReason.RejectTcpNoBackend) + Count(CounterReason.RejectUnknownService), Is.Zero, "no packet was sent to be rejected");
        });
    }

    [Test]
    public void The_mode_switches_at_run_time_between_the_socket_and_the_tc_path()
    {
        _core.SetSocketLbMode(SocketLbMode.Tcp);
        var udpInTcpMode = InCgroup("udp", Vip.ToString(), UdpPort.ToString(), "a");
        var tcpInTcpMode = InCgroup("tcp", Vip.ToString(), TcpPort.ToString(), "b");
        var afterTcpMode = (Nat: Count(CounterReason.NatNewFlow), Sock: Count(CounterReason.SockConnect), Send: Count(CounterReason.SockSendmsg));

        _core.SetSocketLbMode(SocketLbMode.Disabled);
        var tcpDisabled = InCgroup("tcp", Vip.ToString(), TcpPort.ToString(), "c");
        var afterDisabled = (Nat: Count(CounterReason.NatNewFlow), Sock: Count(CounterReason.SockConnect));

        _core.SetSocketLbMode(SocketLbMode.Enabled);
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
            Assert.That(_core.Conntrack.TryLookup(new ConntrackKey4(ClientPod.Address, (ushort)result.Local!.Port, Vip, TcpPort, L4Protocol.Tcp), out _),
                Is.True, "the TC path's conntrack entry: " + Diagnostics());
        });
    }

    [Test]
    public void A_host_network_client_in_the_cgroup_reaches_the_service()
    {
        // The node namespace has no TC program on the way out (no pod veth): only the socket hook can serve it.
        var result = CgroupClient.Run(_cgroup.Path, _topology.NodeNamespace, "tcp", Vip.ToString(), TcpPort.ToString(), "from the host");

        Assert.Multiple(() =>
        {
            Assert.That(result.Error, Is.Null, result + Diagnostics());
            Assert.That(result.Reply, Is.EqualTo("from the host"));
            Assert.That(result.Peer, Is.EqualTo(new IPEndPoint(Vip, TcpPort)));
            Assert.That(Count(CounterReason.SockConnect), Is.EqualTo(1UL), Diagnostics());
            Assert.That(_core.Conntrack.ReadAll(), Is.Empty, Diagnostics());
        });
    }

    [Test]
    public void Detaching_the_hooks_hands_every_socket_back_to_the_tc_path()
    {
        var links = _hooks.Links();
        Assert.That(links.Keys, Is.EquivalentTo(SocketHooks.All));
        Assert.That(links.Values.Select(l => l.CgroupId), Is.All.EqualTo(_cgroup is null ? 0 : Cgroup.Id(_cgroup.Path)), "links on the test cgroup");
        Assert.That(links.Values.Select(l => l.ProgramId), Is.EquivalentTo(_socketLb.Programs.Values.Select(p => p.Id)));

        _hooks.Dispose();
        var result = InCgroup("tcp", Vip.ToString(), TcpPort.ToString(), "after detach");

        Assert.Multiple(() =>
        {
            Assert.That(result.Reply, Is.EqualTo("after detach"), result + Diagnostics());
            Assert.That(Count(CounterReason.SockConnect), Is.Zero);
            Assert.That(Count(CounterReason.NatNewFlow), Is.EqualTo(1UL), Diagnostics());
        });
    }
}
