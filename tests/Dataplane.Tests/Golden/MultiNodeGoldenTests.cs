using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.Programs;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tests.Packets;
using static ProxyReplacement.Dataplane.Tests.Golden.Topology;

namespace ProxyReplacement.Dataplane.Tests.Golden;

/// <summary>
/// External traffic to a backend on another node, in the three modes, packet by packet. Node A (192.168.60.11)
/// owns the NodePort the client used; node B (192.168.60.12) owns the pod CIDR 10.244.2.0/24 of backend A. Each
/// side's program runs in a namespace of its own holding only that node's underlay address, a route to the
/// client through 192.168.60.1 and (on A) the CNI's route to B's pod CIDR, so the FIB lookups of pr_route_out answer the same on every machine (the
/// neighbour is unresolved: the program hands the packet to bpf_redirect_neigh, which BPF_PROG_TEST_RUN reports as
/// a redirect without sending anything). Expected frames are built independently (<see cref="GeneveFrames"/>);
/// the outer UDP source port is a hash of the inner flow and is read from the output.
/// </summary>
[TestFixture(DataplaneVariant.Fast), TestFixture(DataplaneVariant.Compat), Category("Privileged")]
[NonParallelizable]
public sealed class MultiNodeGoldenTests(DataplaneVariant variant)
{
    private static readonly IPAddress NodeA = IPAddress.Parse("192.168.60.11");
    private static readonly IPAddress NodeB = IPAddress.Parse("192.168.60.12");
    private static readonly Endpoint External = Endpoint.Of("203.0.113.50", 41000);
    private static readonly Endpoint NodePort = Endpoint.Of("192.168.60.11", 30080);
    private static readonly Endpoint UdpNodePort = Endpoint.Of("192.168.60.11", 30053);
    private static readonly EthernetHeader Outer = new(HostMac, PodMac, EtherType.Ipv4);

    /// <summary>MSS 1460, SACK permitted, window scale, as Frames.SynOptions; clamped: 1438 - 40 = 1398 (0x0576).</summary>
    private static readonly byte[] ClampedSynOptions = [0x02, 0x04, 0x05, 0x76, .. Frames.SynOptions[4..]];

    private GoldenDataplane _dp = null!;
    private TestNamespaces _namespaces = null!;
    private string _nodeA = null!, _nodeB = null!;

    [OneTimeSetUp]
    public void Load()
    {
        _dp = GoldenDataplane.Load(variant);
        _namespaces = new TestNamespaces();
        _nodeA = AddNode("a", NodeA);
        _nodeB = AddNode("b", NodeB);
    }

    private string AddNode(string role, IPAddress address)
    {
        var ns = _namespaces.Add(role);
        IpCommand.Sysctl(ns, "net.ipv4.ip_forward", "1");
        IpCommand.InNamespace(ns, "ip", "link", "set", "lo", "up");
        // a veth pair inside the namespace stands for the underlay link (this kernel has no dummy driver)
        IpCommand.InNamespace(ns, "ip", "link", "add", "ul0", "type", "veth", "peer", "name", "ul0p");
        IpCommand.InNamespace(ns, "ip", "addr", "add", $"{address}/24", "dev", "ul0");
        IpCommand.InNamespace(ns, "ip", "link", "set", "ul0p", "up");
        IpCommand.InNamespace(ns, "ip", "link", "set", "ul0", "up");
        IpCommand.InNamespace(ns, "ip", "route", "add", "203.0.113.0/24", "via", "192.168.60.1");
        if (address.Equals(NodeA))
            IpCommand.InNamespace(ns, "ip", "route", "add", "10.244.2.0/24", "via", NodeB.ToString()); // as the CNI routes pod CIDRs
        return ns;
    }

    [OneTimeTearDown]
    public void Unload()
    {
        _dp?.Dispose();
        _namespaces?.Dispose();
    }

    [SetUp] public void Reset() => _dp.Reset();

    /// <summary>This dataplane plays node A (the NodePort's) or B (the backend's): its config and routes.</summary>
    private void Be(IPAddress self, ExternalServiceMode mode)
    {
        _dp.Dataplane.WriteConfig(DataplaneConfig.Default.WithMultiNode(MultiNodeConfig.Default with { Mode = mode, NodeAddress = self }));
        var other = self.Equals(NodeA) ? NodeB : NodeA;
        _dp.Dataplane.Routes.Update(new RouteKey4(new IPNetwork(self, 32)), new RouteValue(RouteFlags.Node | RouteFlags.Local, self));
        _dp.Dataplane.Routes.Update(new RouteKey4(new IPNetwork(other, 32)), new RouteValue(RouteFlags.Node | RouteFlags.Remote, other));
        _dp.Dataplane.Routes.Update(new RouteKey4(IPNetwork.Parse("10.244.2.0/24")),
            self.Equals(NodeB) ? new RouteValue(RouteFlags.Local, NodeB) : new RouteValue(RouteFlags.Remote, NodeB));
    }

    private TestRunResult OnA(Func<TestRunResult> run) => NetworkNamespace.Run(_nodeA, run);
    private TestRunResult OnB(Func<TestRunResult> run) => NetworkNamespace.Run(_nodeB, run);

    private ConntrackValue4 Entry(Endpoint source, Endpoint destination, L4Protocol protocol = L4Protocol.Tcp) =>
        _dp.ConntrackEntry(new ConntrackKey4(source.Address, source.Port, destination.Address, destination.Port, protocol));

    [Test]
    public void SnatRewritesTheSourceToTheNodeAndTheReplyBackToTheClient()
    {
        Be(NodeA, ExternalServiceMode.Snat);
        _dp.AddService(NodePort, L4Protocol.Tcp, [BackendA], kind: FrontendKind.NodePort);

        var syn = OnA(() => _dp.RunFromHost(Frames.Tcp(External, NodePort, TcpFlags.Syn, sequence: 100)));

        var forward = Entry(External, NodePort);
        Assert.Multiple(() =>
        {
            Assert.That(syn.ReturnValue, Is.EqualTo(TcVerdict.Redirect), "routed by the program: the source is the node's own");
            Assert.That(forward.FlowFlags, Is.EqualTo(ConntrackFlags.Snat | ConntrackFlags.LocalVip));
            Assert.That(forward.PeerAddress, Is.EqualTo(NodeA));
            Assert.That(forward.PeerPort, Is.InRange(MultiNodeConfig.DefaultSnatPortMin, MultiNodeConfig.DefaultSnatPortMax));
        });
        var snat = new Endpoint(NodeA, forward.PeerPort);
        GoldenDataplane.AssertFrame(syn.Output, Frames.Tcp(snat, BackendA, TcpFlags.Syn, sequence: 100));
        var reverse = Entry(BackendA, snat);
        Assert.That((reverse.Type, reverse.NatAddress, reverse.NatPort, reverse.PeerAddress, reverse.PeerPort),
            Is.EqualTo((ConntrackType.Reverse, NodePort.Address, NodePort.Port, External.Address, External.Port)));

        // The backend answers the node (plain routing brings it back here); the client sees the NodePort.
        var synAck = OnA(() => _dp.RunFromHost(Frames.Tcp(BackendA, snat, TcpFlags.Syn | TcpFlags.Ack, sequence: 900, acknowledgment: 101)));
        Assert.That(synAck.ReturnValue, Is.EqualTo(TcVerdict.Redirect));
        GoldenDataplane.AssertFrame(synAck.Output, Frames.Tcp(NodePort, External, TcpFlags.Syn | TcpFlags.Ack, sequence: 900, acknowledgment: 101));

        var ack = OnA(() => _dp.RunFromHost(Frames.Tcp(External, NodePort, TcpFlags.Ack, sequence: 101, acknowledgment: 901)));
        GoldenDataplane.AssertFrame(ack.Output, Frames.Tcp(snat, BackendA, TcpFlags.Ack, sequence: 101, acknowledgment: 901));
        GoldenDataplane.AssertCounters(_dp.Counters(),
            (CounterReason.NatNewFlow, 1), (CounterReason.NatSnat, 1), (CounterReason.NatReverse, 1), (CounterReason.NatEstablished, 1));
    }

    [Test]
    public void TunnelEncapsulatesToTheBackendsNodeClampingTheMssAndTheReplyComesBackThroughIt()
    {
        Be(NodeA, ExternalServiceMode.Tunnel);
        _dp.AddService(NodePort, L4Protocol.Tcp, [BackendA], kind: FrontendKind.NodePort);

        var syn = OnA(() => _dp.RunFromHost(Frames.Tcp(External, NodePort, TcpFlags.Syn, sequence: 100, options: Frames.SynOptions)));

        Assert.That(syn.ReturnValue, Is.EqualTo(TcVerdict.Redirect));
        var inner = Frames.Tcp(External, BackendA, TcpFlags.Syn, sequence: 100, options: ClampedSynOptions);
        GoldenDataplane.AssertFrame(syn.Output,
            GeneveFrames.Encapsulated(Outer, NodeA, NodeB, GeneveFrames.SourcePort(syn.Output), GeneveFrames.Tunnel, NodePort, IpProtocol.Tcp, inner));
        var forward = Entry(External, NodePort);
        Assert.That((forward.FlowFlags, forward.TunnelAddress), Is.EqualTo((ConntrackFlags.Tunnel | ConntrackFlags.LocalVip, NodeB)));

        // Node B sends the backend's answer back through the tunnel: reverse-NATed here, sent to the client.
        var reply = GeneveFrames.Encapsulated(Outer, NodeB, NodeA, 51000, GeneveFrames.Reply, null, IpProtocol.Tcp,
            Frames.Tcp(BackendA, External, TcpFlags.Syn | TcpFlags.Ack, sequence: 900, acknowledgment: 101));
        var synAck = OnA(() => _dp.RunFromHost(reply));
        Assert.That(synAck.ReturnValue, Is.EqualTo(TcVerdict.Redirect));
        GoldenDataplane.AssertFrame(synAck.Output, Frames.Tcp(NodePort, External, TcpFlags.Syn | TcpFlags.Ack, sequence: 900, acknowledgment: 101));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1), (CounterReason.TcpMssClamped, 1),
            (CounterReason.TunnelEncap, 1), (CounterReason.TunnelDecap, 1), (CounterReason.NatReverse, 1));
    }

    [Test]
    public void TheBackendsNodeDeliversATunnelledFlowAndEncapsulatesItsRepliesBack()
    {
        Be(NodeB, ExternalServiceMode.Tunnel);
        var inner = Frames.Tcp(External, BackendA, TcpFlags.Syn, sequence: 100, options: ClampedSynOptions);

        var delivered = OnB(() => _dp.RunFromHost(
            GeneveFrames.Encapsulated(Outer, NodeA, NodeB, 50000, GeneveFrames.Tunnel, NodePort, IpProtocol.Tcp, inner)));

        Assert.That(delivered.ReturnValue, Is.EqualTo(TcVerdict.Ok), "decapsulated, then the kernel forwards it to the pod");
        GoldenDataplane.AssertFrame(delivered.Output, inner);
        var back = Entry(BackendA, External);
        Assert.That((back.Type, back.FlowFlags, back.TunnelAddress), Is.EqualTo((ConntrackType.TunnelReturn, ConntrackFlags.Tunnel, NodeA)));

        var synAck = OnB(() => _dp.Run(Frames.Tcp(BackendA, External, TcpFlags.Syn | TcpFlags.Ack, sequence: 900, acknowledgment: 101,
            options: Frames.SynOptions)));
        Assert.That(synAck.ReturnValue, Is.EqualTo(TcVerdict.Redirect));
        var innerReply = Frames.Tcp(BackendA, External, TcpFlags.Syn | TcpFlags.Ack, sequence: 900, acknowledgment: 101, options: ClampedSynOptions);
        GoldenDataplane.AssertFrame(synAck.Output,
            GeneveFrames.Encapsulated(Outer, NodeB, NodeA, GeneveFrames.SourcePort(synAck.Output), GeneveFrames.Reply, null, IpProtocol.Tcp, innerReply));
        GoldenDataplane.AssertCounters(_dp.Counters(),
            (CounterReason.TunnelDecap, 1), (CounterReason.TunnelEncap, 1), (CounterReason.TcpMssClamped, 1));
    }

    [Test]
    public void DsrOnTheIngressNodeEncapsulatesWithTheFrontendAndFollowsTheHandshake()
    {
        Be(NodeA, ExternalServiceMode.Dsr);
        _dp.AddService(NodePort, L4Protocol.Tcp, [BackendA], kind: FrontendKind.NodePort);

        var syn = OnA(() => _dp.RunFromHost(Frames.Tcp(External, NodePort, TcpFlags.Syn, sequence: 100)));
        var ack = OnA(() => _dp.RunFromHost(Frames.Tcp(External, NodePort, TcpFlags.Ack, sequence: 101, acknowledgment: 901)));

        Assert.Multiple(() =>
        {
            Assert.That(syn.ReturnValue, Is.EqualTo(TcVerdict.Redirect));
            Assert.That(ack.ReturnValue, Is.EqualTo(TcVerdict.Redirect));
        });
        GoldenDataplane.AssertFrame(syn.Output, GeneveFrames.Encapsulated(Outer, NodeA, NodeB, GeneveFrames.SourcePort(syn.Output),
            GeneveFrames.Dsr, NodePort, IpProtocol.Tcp, Frames.Tcp(External, BackendA, TcpFlags.Syn, sequence: 100)));
        GoldenDataplane.AssertFrame(ack.Output, GeneveFrames.Encapsulated(Outer, NodeA, NodeB, GeneveFrames.SourcePort(ack.Output),
            GeneveFrames.Dsr, NodePort, IpProtocol.Tcp, Frames.Tcp(External, BackendA, TcpFlags.Ack, sequence: 101, acknowledgment: 901)));
        var forward = Entry(External, NodePort);
        Assert.That((forward.FlowFlags, forward.TunnelAddress, forward.TcpState),
            Is.EqualTo((ConntrackFlags.Dsr | ConntrackFlags.LocalVip, NodeB, ConntrackTcpState.Established)),
            "this node never sees the answer: the client's ACK ends the handshake, so the flow gets the established timeout");
    }

    [Test]
    public void DsrOnTheBackendsNodeAnswersTheClientFromTheFrontend()
    {
        Be(NodeB, ExternalServiceMode.Dsr);
        var inner = Frames.Tcp(External, BackendA, TcpFlags.Syn, sequence: 100);

        var delivered = OnB(() => _dp.RunFromHost(
            GeneveFrames.Encapsulated(Outer, NodeA, NodeB, 50000, GeneveFrames.Dsr, NodePort, IpProtocol.Tcp, inner)));

        Assert.That(delivered.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(delivered.Output, inner);
        var back = Entry(BackendA, External);
        Assert.That((back.Type, back.FlowFlags, back.NatAddress, back.NatPort, back.TunnelAddress),
            Is.EqualTo((ConntrackType.Reverse, ConntrackFlags.Dsr, NodePort.Address, NodePort.Port, NodeA)));

        var synAck = OnB(() => _dp.Run(Frames.Tcp(BackendA, External, TcpFlags.Syn | TcpFlags.Ack, sequence: 900, acknowledgment: 101,
            options: Frames.SynOptions)));
        Assert.That(synAck.ReturnValue, Is.EqualTo(TcVerdict.Redirect), "straight to the client, not back to node A");
        GoldenDataplane.AssertFrame(synAck.Output,
            Frames.Tcp(NodePort, External, TcpFlags.Syn | TcpFlags.Ack, sequence: 900, acknowledgment: 101, options: ClampedSynOptions));
        GoldenDataplane.AssertCounters(_dp.Counters(),
            (CounterReason.TunnelDecap, 1), (CounterReason.DsrReply, 1), (CounterReason.TcpMssClamped, 1));
    }

    [TestCase(ExternalServiceMode.Tunnel)]
    [TestCase(ExternalServiceMode.Dsr)]
    public void NetworkPolicyOnTheBackendsNodeChecksTheDecapsulatedClientAndLetsTheReplyOut(ExternalServiceMode mode)
    {
        // Backend A accepts TCP 8080 from 203.0.113.0/24 only and opens nothing itself (deny-all egress).
        Be(NodeB, mode);
        var policy = new Policy.PolicyMaps(_dp.Dataplane);
        policy.Endpoint(BackendA.Address, ingressSet: 1, egressSet: 3);
        policy.Port(1, IpProtocol.Tcp, 8080, portClass: 1);
        policy.Peer(1, 1, "203.0.113.0/24");
        var type = mode == ExternalServiceMode.Dsr ? GeneveFrames.Dsr : GeneveFrames.Tunnel;
        var outsider = Endpoint.Of("198.51.100.77", 42000);

        // decapsulated by pr_tc_from_host, forwarded by the kernel to the backend's veth: the inner client is the peer
        var delivered = OnB(() => _dp.RunFromHost(GeneveFrames.Encapsulated(Outer, NodeA, NodeB, 50000, type, NodePort, IpProtocol.Tcp,
            Frames.Tcp(External, BackendA, TcpFlags.Syn, sequence: 100))));
        var atPod = _dp.RunToPod(delivered.Output);
        var reply = OnB(() => _dp.Run(Frames.Tcp(BackendA, External, TcpFlags.Syn | TcpFlags.Ack, sequence: 900, acknowledgment: 101)));
        var outsiderDelivered = OnB(() => _dp.RunFromHost(GeneveFrames.Encapsulated(Outer, NodeA, NodeB, 50001, type, NodePort, IpProtocol.Tcp,
            Frames.Tcp(outsider, BackendA, TcpFlags.Syn, sequence: 100))));
        var outsiderAtPod = _dp.RunToPod(outsiderDelivered.Output);

        Assert.Multiple(() =>
        {
            Assert.That(delivered.ReturnValue, Is.EqualTo(TcVerdict.Ok));
            Assert.That(atPod.ReturnValue, Is.EqualTo(TcVerdict.Ok), "the client's address is in the ipBlock");
            Assert.That(reply.ReturnValue, Is.EqualTo(TcVerdict.Redirect), "the reply leaves by its pr_ct4 entry, before any policy");
            Assert.That(outsiderAtPod.ReturnValue, Is.EqualTo(TcVerdict.Shot));
            var counters = _dp.Counters();
            Assert.That(counters.GetValueOrDefault(CounterReason.PolicyIngressAllowed), Is.EqualTo(1UL));
            Assert.That(counters.GetValueOrDefault(CounterReason.DropPolicyIngressPeer), Is.EqualTo(1UL));
            Assert.That(counters.GetValueOrDefault(CounterReason.DropPolicyEgressPort), Is.Zero, "the reply is no new flow");
            Assert.That(counters.GetValueOrDefault(CounterReason.TunnelDecap), Is.EqualTo(2UL));
        });
    }

    [Test]
    public void AHostNetworkBackendOnAnotherNodeIsReachedBySnatInEveryMode()
    {
        // Its replies leave node B's own stack, which no program of ours sees: only SNAT brings them back to A.
        var kubelet = new Endpoint(NodeB, 10250);
        foreach (var mode in new[] { ExternalServiceMode.Tunnel, ExternalServiceMode.Dsr })
        {
            _dp.Reset();
            Be(NodeA, mode);
            _dp.AddService(NodePort, L4Protocol.Tcp, [kubelet], kind: FrontendKind.NodePort);

            var syn = OnA(() => _dp.RunFromHost(Frames.Tcp(External, NodePort, TcpFlags.Syn, sequence: 100)));

            var forward = Entry(External, NodePort);
            Assert.That(forward.FlowFlags, Is.EqualTo(ConntrackFlags.Snat | ConntrackFlags.LocalVip), $"{mode}");
            GoldenDataplane.AssertFrame(syn.Output, Frames.Tcp(new Endpoint(NodeA, forward.PeerPort), kubelet, TcpFlags.Syn, sequence: 100));
        }
    }

    [Test]
    public void GenevePacketsFromAnAddressThatIsNoNodeAreDropped()
    {
        Be(NodeB, ExternalServiceMode.Tunnel);
        var forged = GeneveFrames.Encapsulated(Outer, IPAddress.Parse("192.168.60.66"), NodeB, 50000, GeneveFrames.Tunnel, NodePort,
            IpProtocol.Tcp, Frames.Tcp(External, BackendA, TcpFlags.Syn));

        var result = OnB(() => _dp.RunFromHost(forged));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Shot));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.DropTunnelPeer, 1));
        Assert.That(_dp.Dataplane.Conntrack.ReadAll(), Is.Empty);
    }

    [Test]
    public void AReplyForAFlowThisNodeDoesNotKnowIsDropped()
    {
        Be(NodeA, ExternalServiceMode.Tunnel);
        var stray = GeneveFrames.Encapsulated(Outer, NodeB, NodeA, 51000, GeneveFrames.Reply, null, IpProtocol.Tcp,
            Frames.Tcp(BackendA, External, TcpFlags.Ack, sequence: 900, acknowledgment: 101));

        var result = OnA(() => _dp.RunFromHost(stray));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Shot));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.TunnelDecap, 1), (CounterReason.DropTunnelMisrouted, 1));
    }

    [Test]
    public void AUdpDatagramTooBigForTheTunnelGetsFragmentationNeeded()
    {
        Be(NodeA, ExternalServiceMode.Tunnel);
        _dp.AddService(UdpNodePort, L4Protocol.Udp, [UdpBackendA], kind: FrontendKind.NodePort);
        var payload = new byte[MultiNodeConfig.DefaultTunnelMtu - 20 - 8 + 1]; // one byte over the tunnel MTU
        var original = Frames.UdpPacket(External, UdpNodePort, payload);

        var result = OnA(() => _dp.RunFromHost(Frames.FromPod(original)));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Redirect), "sent back out of the interface it came in on");
        var ip = FrameView.Parse(result.Output).Ip;
        Assert.Multiple(() =>
        {
            Assert.That((ip.Source, ip.Destination), Is.EqualTo((UdpNodePort.Address, External.Address)));
            Assert.That((ip.Icmp.Type, ip.Icmp.Code), Is.EqualTo(((byte)3, (byte)4)), "destination unreachable, fragmentation needed");
            Assert.That(ip.Icmp.RestOfHeader, Is.EqualTo((uint)MultiNodeConfig.DefaultTunnelMtu), "the next-hop MTU: the tunnel's");
            Assert.That(ip.Icmp.Body.ToArray(), Is.EqualTo(original[..28]));
        });
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.DropTooBig, 1));
        Assert.That(_dp.Dataplane.Conntrack.ReadAll(), Is.Empty, "nothing was forwarded, nothing is tracked");
    }

    /// <summary>
    /// PR_SNAT_TIME_WAIT_S (70 s): a SNATed flow closed by FINs both ways keeps both entries, and so its SNAT port, 70 s
    /// after its last packet although the closing timeout is 10 s: the backend, which closed first, holds {backend, node
    /// a:SNAT port} in TIME_WAIT for 60 s, and its ACK to a late retransmitted FIN of the client, 30 s on, still finds the
    /// flow and reaches the client. 71 s on, the entries are expired: the packet finds no flow (the reverse entry is dropped
    /// on the spot, as the sweeper would have done). A flow ended by RST leaves no TIME_WAIT: 10 s, as any closed flow.
    /// </summary>
    [TestCase(true, 30, true, Description = "FIN-closed, within the backend's TIME_WAIT")]
    [TestCase(true, 69, true, Description = "FIN-closed, just within PR_SNAT_TIME_WAIT_S")]
    [TestCase(true, 71, false, Description = "FIN-closed, past PR_SNAT_TIME_WAIT_S")]
    [TestCase(false, 9, true, Description = "RST-closed, within the closing timeout")]
    [TestCase(false, 30, false, Description = "RST-closed: the plain closing timeout")]
    public void AClosedSnatFlowKeepsItsEntriesThroughTheBackendsTimeWait(bool closedByFins, int idleSeconds, bool alive)
    {
        Be(NodeA, ExternalServiceMode.Snat);
        _dp.AddService(NodePort, L4Protocol.Tcp, [BackendA], kind: FrontendKind.NodePort);
        var snat = OpenAndCloseSnatFlow(External, closedByFins);
        var forwardKey = Key(External, NodePort);
        var reverseKey = Key(BackendA, snat);
        Assert.That((Entry(External, NodePort).TcpState, Entry(External, NodePort).FinSeen, Entry(BackendA, snat).FinSeen),
            Is.EqualTo((ConntrackTcpState.Closed, (byte)(closedByFins ? 3 : 0), (byte)(closedByFins ? 3 : 0))), "closed, and how");
        var lastSeen = Monotonic.NowNs() - (ulong)idleSeconds * GoldenClock.Second;
        Age(forwardKey, lastSeen);
        Age(reverseKey, lastSeen);
        var before = _dp.Dataplane.ReadCounters();

        var ack = Frames.Tcp(BackendA, snat, TcpFlags.Ack, sequence: 902, acknowledgment: 102);
        var result = OnA(() => _dp.RunFromHost(ack));

        var moved = _dp.Dataplane.ReadCounters().Where(c => c.Value != before.GetValueOrDefault(c.Key))
            .ToDictionary(c => c.Key, c => c.Value - before.GetValueOrDefault(c.Key));
        if (alive)
        {
            Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Redirect));
            GoldenDataplane.AssertFrame(result.Output, Frames.Tcp(NodePort, External, TcpFlags.Ack, sequence: 902, acknowledgment: 102));
            GoldenDataplane.AssertCounters(moved, (CounterReason.NatReverse, 1));
            Assert.That(_dp.Dataplane.Conntrack.TryLookup(reverseKey, out _), Is.True, "the SNAT port stays reserved");
        }
        else
        {
            Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok), "no flow: left to the node's stack, untranslated");
            GoldenDataplane.AssertFrame(result.Output, ack);
            GoldenDataplane.AssertCounters(moved, (CounterReason.ConntrackExpired, 1), (CounterReason.PassNoService, 1));
            Assert.That(_dp.Dataplane.Conntrack.TryLookup(reverseKey, out _), Is.False, "expired: the reverse entry is dropped");
        }
    }

    /// <summary>
    /// The reservation is the reverse entry itself (pr_snat_port takes a port no entry holds): with a range of one port held
    /// by a closed flow, a new client's SYN is dropped and counted (drop_snat_ports, the exhaustion metric); once the
    /// entries are gone (the sweeper deletes them past PR_SNAT_TIME_WAIT_S) the port serves the next flow.
    /// </summary>
    [Test]
    public void APortHeldByAClosedSnatFlowIsNotGivenToANewFlowAndTheRefusalIsCounted()
    {
        Be(NodeA, ExternalServiceMode.Snat);
        _dp.Dataplane.WriteConfig(DataplaneConfig.Default.WithMultiNode(MultiNodeConfig.Default with
        {
            Mode = ExternalServiceMode.Snat, NodeAddress = NodeA, SnatPortMin = 20000, SnatPortMax = 20000,
        }));
        _dp.AddService(NodePort, L4Protocol.Tcp, [BackendA], kind: FrontendKind.NodePort);
        var snat = OpenAndCloseSnatFlow(External, closedByFins: true);
        Assert.That(snat.Port, Is.EqualTo(20000));
        var lastSeen = Monotonic.NowNs() - 30 * GoldenClock.Second;
        Age(Key(External, NodePort), lastSeen);
        Age(Key(BackendA, snat), lastSeen);
        var other = Endpoint.Of("203.0.113.51", 41000);

        var refused = OnA(() => _dp.RunFromHost(Frames.Tcp(other, NodePort, TcpFlags.Syn, sequence: 500)));

        Assert.Multiple(() =>
        {
            Assert.That(refused.ReturnValue, Is.EqualTo(TcVerdict.Shot));
            Assert.That(_dp.Counter(CounterReason.DropSnatPorts), Is.EqualTo(1));
            Assert.That(_dp.Dataplane.Conntrack.TryLookup(Key(other, NodePort), out _), Is.False, "no flow for the refused SYN");
        });

        _dp.Dataplane.Conntrack.Delete(Key(External, NodePort));
        _dp.Dataplane.Conntrack.Delete(Key(BackendA, snat));
        var served = OnA(() => _dp.RunFromHost(Frames.Tcp(other, NodePort, TcpFlags.Syn, sequence: 500)));

        Assert.That(served.ReturnValue, Is.EqualTo(TcVerdict.Redirect));
        GoldenDataplane.AssertFrame(served.Output, Frames.Tcp(snat, BackendA, TcpFlags.Syn, sequence: 500));
    }

    /// <summary>A SNAT flow from <paramref name="client"/> through its handshake to its close: the backend's FIN then the client's, or the client's RST.</summary>
    private Endpoint OpenAndCloseSnatFlow(Endpoint client, bool closedByFins)
    {
        OnA(() => _dp.RunFromHost(Frames.Tcp(client, NodePort, TcpFlags.Syn, sequence: 100)));
        var snat = new Endpoint(NodeA, Entry(client, NodePort).PeerPort);
        OnA(() => _dp.RunFromHost(Frames.Tcp(BackendA, snat, TcpFlags.Syn | TcpFlags.Ack, sequence: 900, acknowledgment: 101)));
        OnA(() => _dp.RunFromHost(Frames.Tcp(client, NodePort, TcpFlags.Ack, sequence: 101, acknowledgment: 901)));
        if (closedByFins)
        {
            // the backend closes first (a server answering "Connection: close"), so the backend keeps the TIME_WAIT
            OnA(() => _dp.RunFromHost(Frames.Tcp(BackendA, snat, TcpFlags.Fin | TcpFlags.Ack, sequence: 901, acknowledgment: 101)));
            OnA(() => _dp.RunFromHost(Frames.Tcp(client, NodePort, TcpFlags.Fin | TcpFlags.Ack, sequence: 101, acknowledgment: 902)));
        }
        else
        {
            OnA(() => _dp.RunFromHost(Frames.Tcp(client, NodePort, TcpFlags.Rst, sequence: 101)));
        }
        return snat;
    }

    private static ConntrackKey4 Key(Endpoint source, Endpoint destination) =>
        new(source.Address, source.Port, destination.Address, destination.Port, L4Protocol.Tcp);

    /// <summary>Rewrites an entry's last_seen: the flow as it stands after that much idle time.</summary>
    private void Age(ConntrackKey4 key, ulong lastSeenNs)
    {
        var v = _dp.ConntrackEntry(key);
        _dp.Dataplane.Conntrack.Update(key, new ConntrackValue4(v.CreatedNs, lastSeenNs, v.Type, v.TcpState, v.FinSeen, v.Flags, v.ServiceId,
            v.NatAddress, v.NatPort, v.PeerAddress, v.PeerPort, v.TunnelAddress));
    }
}
