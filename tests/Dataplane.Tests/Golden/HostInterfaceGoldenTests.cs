using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Tests.Packets;
using static ProxyReplacement.Dataplane.Tests.Golden.Topology;

namespace ProxyReplacement.Dataplane.Tests.Golden;

/// <summary>
/// pr_tc_from_host, at ingress of a host data interface: a client outside the node reaches a Service through a
/// NodePort (a node address and the nodePort), a LoadBalancer IP or an external IP. The first packet is DNATed to a
/// backend and tracked; its replies leave the backend's veth through pr_tc_from_wl, which reverse-NATs them to the
/// address the client used. Source ranges drop LoadBalancer traffic from other sources, and only there. The frames
/// come from the router's MAC to the node's; the test builds them with the pod-side helpers (the MACs do not matter
/// to the program, only that a reject swaps them).
/// </summary>
[TestFixture(DataplaneVariant.Fast), TestFixture(DataplaneVariant.Compat), Category("Privileged")]
public sealed class HostInterfaceGoldenTests(DataplaneVariant variant)
{
    private static readonly Endpoint External = Endpoint.Of("203.0.113.50", 41000);
    private static readonly Endpoint Outsider = Endpoint.Of("198.51.100.77", 42000);
    private static readonly Endpoint NodePort = Endpoint.Of("192.168.1.10", 30080);
    private static readonly Endpoint UdpNodePort = Endpoint.Of("192.168.1.10", 30053);
    private static readonly Endpoint LoadBalancerIp = Endpoint.Of("192.0.2.20", 80);
    private static readonly Endpoint ExternalIp = Endpoint.Of("192.0.2.40", 53);
    private const uint LbServiceId = 9;

    private GoldenDataplane _dp = null!;

    [OneTimeSetUp] public void LoadDataplane() => _dp = GoldenDataplane.Load(variant);
    [OneTimeTearDown] public void Unload() => _dp?.Dispose();
    [SetUp] public void Reset() => _dp.Reset();

    [Test]
    public void NodePortSynIsDnatedTrackedAndItsReplyReverseNatedToTheNodePort()
    {
        _dp.AddService(NodePort, L4Protocol.Tcp, [BackendA], kind: FrontendKind.NodePort);

        var syn = _dp.RunFromHost(Frames.Tcp(External, NodePort, TcpFlags.Syn, sequence: 100));

        Assert.That(syn.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(syn.Output, Frames.Tcp(External, BackendA, TcpFlags.Syn, sequence: 100));
        var forward = _dp.ConntrackEntry(new ConntrackKey4(External.Address, External.Port, NodePort.Address, NodePort.Port, L4Protocol.Tcp));
        var reverse = _dp.ConntrackEntry(new ConntrackKey4(BackendA.Address, BackendA.Port, External.Address, External.Port, L4Protocol.Tcp));
        Assert.Multiple(() =>
        {
            Assert.That((forward.Type, forward.NatAddress, forward.NatPort), Is.EqualTo((ConntrackType.Forward, BackendA.Address, BackendA.Port)));
            Assert.That((reverse.Type, reverse.NatAddress, reverse.NatPort), Is.EqualTo((ConntrackType.Reverse, NodePort.Address, NodePort.Port)));
        });

        // The backend answers from its pod: the client must see the node address and the nodePort.
        // The node address is local: the program routes the reply itself (FIB lookup, bpf_redirect_neigh), since the
        // kernel would drop a forwarded packet from a local address. Whether the FIB of the namespace this test runs in
        // has a forwarding route to the client decides between REDIRECT and leaving it to the kernel (OK); the bytes
        // are the same either way (the neighbour subsystem writes the MACs only when it sends).
        Assert.That(forward.Flags & 4, Is.EqualTo(4), "PR_CT_F_LOCAL_VIP: a NodePort's VIP is the node's own address");
        var synAck = _dp.Run(Frames.Tcp(BackendA, External, TcpFlags.Syn | TcpFlags.Ack, sequence: 900, acknowledgment: 101));
        Assert.That(synAck.ReturnValue, Is.AnyOf(TcVerdict.Ok, TcVerdict.Redirect));
        GoldenDataplane.AssertFrame(synAck.Output, Frames.Tcp(NodePort, External, TcpFlags.Syn | TcpFlags.Ack, sequence: 900, acknowledgment: 101));

        // The client's next segment follows the conntrack entry.
        var ack = _dp.RunFromHost(Frames.Tcp(External, NodePort, TcpFlags.Ack, sequence: 101, acknowledgment: 901));
        GoldenDataplane.AssertFrame(ack.Output, Frames.Tcp(External, BackendA, TcpFlags.Ack, sequence: 101, acknowledgment: 901));
        GoldenDataplane.AssertCounters(_dp.Counters(),
            (CounterReason.NatNewFlow, 1), (CounterReason.NatReverse, 1), (CounterReason.NatEstablished, 1));
    }

    [Test]
    public void UdpToAnExternalIpIsDnated()
    {
        _dp.AddService(ExternalIp, L4Protocol.Udp, [UdpBackendA], kind: FrontendKind.ExternalIP);

        var result = _dp.RunFromHost(Frames.Udp(External, ExternalIp));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output, Frames.Udp(External, UdpBackendA));
        var reply = _dp.Run(Frames.Udp(UdpBackendA, External));
        GoldenDataplane.AssertFrame(reply.Output, Frames.Udp(ExternalIp, External));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1), (CounterReason.NatReverse, 1));
    }

    [Test]
    public void SourceRangesDropOtherSourcesAtTheLoadBalancerIpOnly()
    {
        _dp.AddService(LoadBalancerIp, L4Protocol.Tcp, [BackendA], LbServiceId, FrontendFlags.SourceRanges, kind: FrontendKind.LoadBalancer);
        _dp.AddService(NodePort, L4Protocol.Tcp, [BackendA], LbServiceId, kind: FrontendKind.NodePort);
        _dp.Dataplane.LbSourceRanges.Update(new LbSourceRangeKey4(LbServiceId, IPNetwork.Parse("203.0.113.0/24")), default);

        var allowed = _dp.RunFromHost(Frames.Tcp(External, LoadBalancerIp, TcpFlags.Syn));
        var denied = _dp.RunFromHost(Frames.Tcp(Outsider, LoadBalancerIp, TcpFlags.Syn));
        var otherEntryPoint = _dp.RunFromHost(Frames.Tcp(Outsider, NodePort, TcpFlags.Syn));

        Assert.Multiple(() =>
        {
            Assert.That(allowed.ReturnValue, Is.EqualTo(TcVerdict.Ok));
            Assert.That(denied.ReturnValue, Is.EqualTo(TcVerdict.Shot));
            Assert.That(otherEntryPoint.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        });
        GoldenDataplane.AssertFrame(allowed.Output, Frames.Tcp(External, BackendA, TcpFlags.Syn));
        GoldenDataplane.AssertFrame(otherEntryPoint.Output, Frames.Tcp(Outsider, BackendA, TcpFlags.Syn));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 2), (CounterReason.DropSourceRange, 1));
        Assert.That(_dp.Dataplane.Conntrack.TryLookup(
            new ConntrackKey4(Outsider.Address, Outsider.Port, LoadBalancerIp.Address, LoadBalancerIp.Port, L4Protocol.Tcp), out _), Is.False,
            "a dropped packet opens no flow");
    }

    [Test]
    public void SourceRangesApplyToPodsToo()
    {
        _dp.AddService(LoadBalancerIp, L4Protocol.Tcp, [BackendA], LbServiceId, FrontendFlags.SourceRanges, kind: FrontendKind.LoadBalancer);
        _dp.Dataplane.LbSourceRanges.Update(new LbSourceRangeKey4(LbServiceId, IPNetwork.Parse("203.0.113.0/24")), default);

        var fromPod = _dp.Run(Frames.Tcp(Client, LoadBalancerIp, TcpFlags.Syn));

        Assert.That(fromPod.ReturnValue, Is.EqualTo(TcVerdict.Shot));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.DropSourceRange, 1));
    }

    [Test]
    public void TrafficToTheNodeThatIsNoServicePassesUntouched()
    {
        _dp.AddService(NodePort, L4Protocol.Tcp, [BackendA], kind: FrontendKind.NodePort);
        var ssh = Frames.Tcp(External, Endpoint.Of(NodePort.Address.ToString(), 22), TcpFlags.Syn);

        var result = _dp.RunFromHost(ssh);

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        Assert.That(result.Output, Is.EqualTo(ssh));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.PassNoService, 1));
    }

    [Test]
    public void ATcpSegmentWithoutSynOpensNoFlowFromOutside()
    {
        // E.g. the answer to a connection the node itself opened from a port that is also a nodePort.
        _dp.AddService(NodePort, L4Protocol.Tcp, [BackendA], kind: FrontendKind.NodePort);
        var segment = Frames.Tcp(External, NodePort, TcpFlags.Syn | TcpFlags.Ack, sequence: 5, acknowledgment: 6);

        var result = _dp.RunFromHost(segment);

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        Assert.That(result.Output, Is.EqualTo(segment));
        Assert.That(_dp.Dataplane.Conntrack.ReadAll(), Is.Empty);
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.PassNotNew, 1));
    }

    [Test]
    public void ANodePortWithoutBackendsRejectsTcpWithRstFromTheNodePort()
    {
        _dp.AddService(NodePort, L4Protocol.Tcp, [], kind: FrontendKind.NodePort);

        var result = _dp.RunFromHost(Frames.Tcp(External, NodePort, TcpFlags.Syn, sequence: 1000));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Redirect));
        var ip = FrameView.Parse(result.Output).Ip;
        Assert.Multiple(() =>
        {
            Assert.That(ChecksumAudit.Problems(result.Output), Is.Empty);
            Assert.That((ip.Source, ip.Destination), Is.EqualTo((NodePort.Address, External.Address)));
            Assert.That((ip.Tcp.SourcePort, ip.Tcp.DestinationPort), Is.EqualTo((NodePort.Port, External.Port)));
            Assert.That(ip.Tcp.Flags, Is.EqualTo(TcpFlags.Rst | TcpFlags.Ack));
            Assert.That(ip.Tcp.Acknowledgment, Is.EqualTo(1001u));
        });
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.RejectTcpNoBackend, 1));
    }

    [Test]
    public void ANodePortWithoutBackendsRejectsUdpWithPortUnreachable()
    {
        _dp.AddService(UdpNodePort, L4Protocol.Udp, [], kind: FrontendKind.NodePort);

        var result = _dp.RunFromHost(Frames.Udp(External, UdpNodePort));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Redirect));
        var ip = FrameView.Parse(result.Output).Ip;
        Assert.Multiple(() =>
        {
            Assert.That(ChecksumAudit.Problems(result.Output), Is.Empty);
            Assert.That((ip.Source, ip.Destination), Is.EqualTo((UdpNodePort.Address, External.Address)));
            Assert.That((ip.Icmp.Type, ip.Icmp.Code), Is.EqualTo((IcmpMessage.DestinationUnreachable, (byte)3)));
            Assert.That(ip.Icmp.Quoted.Udp.DestinationPort, Is.EqualTo(UdpNodePort.Port));
        });
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.RejectUdpNoBackend, 1));
    }

    [Test]
    public void AnIcmpErrorFromTheBackendAboutANodePortFlowComesFromTheNodePort()
    {
        _dp.AddService(UdpNodePort, L4Protocol.Udp, [UdpBackendA], kind: FrontendKind.NodePort);
        var payload = "query"u8.ToArray();
        var sent = Frames.UdpPacket(External, UdpNodePort, payload);
        var delivered = Frames.UdpPacket(External, UdpBackendA, payload);
        Assert.That(_dp.RunFromHost(Frames.FromPod(sent)).Output, Is.EqualTo(Frames.FromPod(delivered)));

        var error = _dp.Run(Frames.Icmp(UdpBackendA.Address, External.Address, IcmpMessage.PortUnreachable(delivered)));

        Assert.That(error.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(error.Output, Frames.Icmp(UdpNodePort.Address, External.Address, IcmpMessage.PortUnreachable(sent)));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1), (CounterReason.IcmpErrorTranslated, 1));
    }
}
