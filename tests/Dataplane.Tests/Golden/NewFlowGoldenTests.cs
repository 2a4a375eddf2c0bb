using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Tests.Packets;
using static ProxyReplacement.Dataplane.Tests.Golden.Topology;

namespace ProxyReplacement.Dataplane.Tests.Golden;

/// <summary>program.md §4: the first packet of a flow to a Service is DNATed and creates both conntrack entries.</summary>
[TestFixture(DataplaneVariant.Fast), TestFixture(DataplaneVariant.Compat), Category("Privileged")]
public sealed class NewFlowGoldenTests(DataplaneVariant variant)
{
    private GoldenDataplane _dp = null!;

    [OneTimeSetUp] public void LoadDataplane() => _dp = GoldenDataplane.Load(variant);
    [OneTimeTearDown] public void Unload() => _dp?.Dispose();
    [SetUp] public void Reset() => _dp.Reset();

    [Test]
    public void TcpSynToVipIsDnatedToTheBackendAndTrackedAsSynSent()
    {
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);
        var input = Frames.Tcp(Client, TcpVip, TcpFlags.Syn, sequence: 1000, options: Frames.SynOptions);

        var before = Monotonic.NowNs();
        var result = _dp.Run(input);
        var after = Monotonic.NowNs();

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        var ip = FrameView.Parse(result.Output).Ip;
        Assert.Multiple(() =>
        {
            Assert.That(ip.Source, Is.EqualTo(Client.Address));
            Assert.That(ip.Destination, Is.EqualTo(BackendA.Address));
            Assert.That(ip.Tcp.SourcePort, Is.EqualTo(Client.Port));
            Assert.That(ip.Tcp.DestinationPort, Is.EqualTo(BackendA.Port));
            Assert.That(ip.Tcp.Flags, Is.EqualTo(TcpFlags.Syn));
            Assert.That(ip.Tcp.Sequence, Is.EqualTo(1000u));
        });
        GoldenDataplane.AssertFrame(result.Output, Frames.Tcp(Client, BackendA, TcpFlags.Syn, sequence: 1000, options: Frames.SynOptions));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1));
        AssertFlowEntries(L4Protocol.Tcp, Client, TcpVip, BackendA, ConntrackTcpState.SynSent, before, after);
    }

    [Test]
    public void TcpNewFlowWithoutSynStartsEstablished()
    {
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);
        var input = Frames.Tcp(Client, TcpVip, TcpFlags.Psh | TcpFlags.Ack, sequence: 5555, acknowledgment: 777, payload: "hello"u8.ToArray());

        var before = Monotonic.NowNs();
        var result = _dp.Run(input);
        var after = Monotonic.NowNs();

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output,
            Frames.Tcp(Client, BackendA, TcpFlags.Psh | TcpFlags.Ack, sequence: 5555, acknowledgment: 777, payload: "hello"u8.ToArray()));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1));
        AssertFlowEntries(L4Protocol.Tcp, Client, TcpVip, BackendA, ConntrackTcpState.Established, before, after);
    }

    [Test]
    public void UdpToVipIsDnatedAndTrackedWithoutTcpState()
    {
        _dp.AddService(UdpVip, L4Protocol.Udp, [UdpBackendA]);

        var before = Monotonic.NowNs();
        var result = _dp.Run(Frames.Udp(Client, UdpVip));
        var after = Monotonic.NowNs();

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        var ip = FrameView.Parse(result.Output).Ip;
        Assert.Multiple(() =>
        {
            Assert.That(ip.Destination, Is.EqualTo(UdpBackendA.Address));
            Assert.That(ip.Udp.DestinationPort, Is.EqualTo(UdpBackendA.Port));
            Assert.That(ip.Udp.SourcePort, Is.EqualTo(Client.Port));
            Assert.That(ip.Udp.Payload.ToArray(), Is.EqualTo(Frames.DefaultUdpPayload));
        });
        GoldenDataplane.AssertFrame(result.Output, Frames.Udp(Client, UdpBackendA));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1));
        AssertFlowEntries(L4Protocol.Udp, Client, UdpVip, UdpBackendA, ConntrackTcpState.None, before, after);
    }

    [Test]
    public void UdpWithoutChecksumKeepsZeroChecksum()
    {
        // RFC 768: zero means "no checksum"; an incremental update must not turn it into a (wrong) value.
        _dp.AddService(UdpVip, L4Protocol.Udp, [UdpBackendA]);
        var datagram = new UdpDatagram { SourcePort = Client.Port, DestinationPort = UdpVip.Port, Payload = [1, 2, 3], WithoutChecksum = true };
        var input = Frames.FromPod(Frames.Ip(Client.Address, UdpVip.Address, IpProtocol.Udp).Build(datagram.Build(Client.Address, UdpVip.Address)));
        var expected = Frames.FromPod(Frames.Ip(Client.Address, UdpBackendA.Address, IpProtocol.Udp)
            .Build((datagram with { DestinationPort = UdpBackendA.Port }).Build(Client.Address, UdpBackendA.Address)));

        var result = _dp.Run(input);

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        Assert.That(FrameView.Parse(result.Output).Ip.Udp.Checksum, Is.Zero);
        GoldenDataplane.AssertFrame(result.Output, expected);
    }

    [Test]
    public void RandomChoiceAmongSeveralBackendsIsOneOfThemAndIsRecorded()
    {
        IReadOnlyList<Endpoint> backends = [BackendA, BackendB, BackendC];
        _dp.AddService(TcpVip, L4Protocol.Tcp, backends);

        var result = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Syn));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        var ip = FrameView.Parse(result.Output).Ip;
        var chosen = new Endpoint(ip.Destination, ip.Tcp.DestinationPort);
        Assert.That(backends, Does.Contain(chosen));
        GoldenDataplane.AssertFrame(result.Output, Frames.Tcp(Client, chosen, TcpFlags.Syn));
        var forward = _dp.ConntrackEntry(new ConntrackKey4(Client.Address, Client.Port, TcpVip.Address, TcpVip.Port, L4Protocol.Tcp));
        Assert.That(new Endpoint(forward.NatAddress, forward.NatPort), Is.EqualTo(chosen));
    }

    private void AssertFlowEntries(L4Protocol protocol, Endpoint client, Endpoint vip, Endpoint backend, ConntrackTcpState state, ulong before, ulong after)
    {
        var forward = _dp.ConntrackEntry(new ConntrackKey4(client.Address, client.Port, vip.Address, vip.Port, protocol));
        var reverse = _dp.ConntrackEntry(new ConntrackKey4(backend.Address, backend.Port, client.Address, client.Port, protocol));
        Assert.Multiple(() =>
        {
            Assert.That(forward.Type, Is.EqualTo(ConntrackType.Forward));
            Assert.That(forward.TcpState, Is.EqualTo(state));
            Assert.That(forward.NatAddress, Is.EqualTo(backend.Address));
            Assert.That(forward.NatPort, Is.EqualTo(backend.Port));
            Assert.That(forward.ServiceId, Is.EqualTo(ServiceId));
            Assert.That(forward.FinSeen, Is.Zero);
            Assert.That(forward.Flags, Is.Zero, "no affinity on this frontend");
            Assert.That(forward.CreatedNs, Is.InRange(before, after));
            Assert.That(forward.LastSeenNs, Is.EqualTo(forward.CreatedNs));

            Assert.That(reverse.Type, Is.EqualTo(ConntrackType.Reverse));
            Assert.That(reverse.TcpState, Is.EqualTo(state));
            Assert.That(reverse.NatAddress, Is.EqualTo(vip.Address));
            Assert.That(reverse.NatPort, Is.EqualTo(vip.Port));
            Assert.That(reverse.ServiceId, Is.EqualTo(ServiceId));
            Assert.That(reverse.FinSeen, Is.Zero);
            Assert.That(reverse.CreatedNs, Is.InRange(before, after));
            Assert.That(reverse.LastSeenNs, Is.EqualTo(reverse.CreatedNs));

            Assert.That(_dp.Dataplane.Conntrack.ReadAll(), Has.Count.EqualTo(2), "exactly the forward and reverse entries");
        });
    }
}
