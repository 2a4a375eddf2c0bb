using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Tests.Packets;
using static ProxyReplacement.Dataplane.Tests.Golden.Topology;

namespace ProxyReplacement.Dataplane.Tests.Golden;

/// <summary>program.md §3: established flows keep their backend, replies are reverse-NATed, TCP state moves.</summary>
[TestFixture(DataplaneVariant.Fast), TestFixture(DataplaneVariant.Compat), Category("Privileged")]
public sealed class ConntrackGoldenTests(DataplaneVariant variant)
{
    private GoldenDataplane _dp = null!;

    [OneTimeSetUp] public void LoadDataplane() => _dp = GoldenDataplane.Load(variant);
    [OneTimeTearDown] public void Unload() => _dp?.Dispose();
    [SetUp] public void Reset() => _dp.Reset();

    private static ConntrackKey4 TcpForwardKey => new(Client.Address, Client.Port, TcpVip.Address, TcpVip.Port, L4Protocol.Tcp);

    [Test]
    public void EstablishedFlowKeepsItsBackendAfterTheBackendsChange()
    {
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);
        Assert.That(_dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Syn, sequence: 1000)).ReturnValue, Is.EqualTo(TcVerdict.Ok));
        var created = _dp.ConntrackEntry(TcpForwardKey);

        // The Service's backends move: ordinal 0 is now B, and C joins.
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendB, BackendC]);
        var next = Frames.Tcp(Client, TcpVip, TcpFlags.Ack | TcpFlags.Psh, sequence: 1001, acknowledgment: 9001, payload: "GET / HTTP/1.1\r\n"u8.ToArray());
        var before = Monotonic.NowNs();
        var result = _dp.Run(next);
        var after = Monotonic.NowNs();

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output,
            Frames.Tcp(Client, BackendA, TcpFlags.Ack | TcpFlags.Psh, sequence: 1001, acknowledgment: 9001, payload: "GET / HTTP/1.1\r\n"u8.ToArray()));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1), (CounterReason.NatEstablished, 1));
        var forward = _dp.ConntrackEntry(TcpForwardKey);
        Assert.Multiple(() =>
        {
            Assert.That(forward.NatAddress, Is.EqualTo(BackendA.Address));
            Assert.That(forward.NatPort, Is.EqualTo(BackendA.Port));
            Assert.That(forward.CreatedNs, Is.EqualTo(created.CreatedNs));
            Assert.That(forward.LastSeenNs, Is.InRange(before, after), "last_seen is refreshed");
        });
    }

    [Test]
    public void EstablishedFlowSurvivesItsServiceLosingEveryBackend()
    {
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);
        _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Syn, sequence: 1000));
        _dp.Dataplane.Backends.Delete(new NatBackendKey(ServiceId, 0));
        _dp.AddService(TcpVip, L4Protocol.Tcp, []);

        var result = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Ack, sequence: 1001, acknowledgment: 9001));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok), "not rejected: the flow is tracked");
        GoldenDataplane.AssertFrame(result.Output, Frames.Tcp(Client, BackendA, TcpFlags.Ack, sequence: 1001, acknowledgment: 9001));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1), (CounterReason.NatEstablished, 1));
    }

    [Test]
    public void RandomlyChosenBackendSticksForTheRestOfTheFlow()
    {
        IReadOnlyList<Endpoint> backends = [BackendA, BackendB, BackendC];
        _dp.AddService(TcpVip, L4Protocol.Tcp, backends);
        var first = FrameView.Parse(_dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Syn, sequence: 1)).Output).Ip;
        var chosen = new Endpoint(first.Destination, first.Tcp.DestinationPort);
        Assert.That(backends, Does.Contain(chosen));

        for (uint i = 0; i < 8; i++)
        {
            var result = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Ack, sequence: 2 + i, acknowledgment: 100));
            Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
            GoldenDataplane.AssertFrame(result.Output, Frames.Tcp(Client, chosen, TcpFlags.Ack, sequence: 2 + i, acknowledgment: 100));
        }
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1), (CounterReason.NatEstablished, 8));
    }

    [Test]
    public void SynAckFromBackendIsReverseNatedAndEstablishesTheFlow()
    {
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);
        _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Syn, sequence: 1000, options: Frames.SynOptions));
        Assert.That(_dp.ConntrackEntry(TcpForwardKey).TcpState, Is.EqualTo(ConntrackTcpState.SynSent));

        var reply = Frames.Tcp(BackendA, Client, TcpFlags.Syn | TcpFlags.Ack, sequence: 5000, acknowledgment: 1001, options: Frames.SynOptions);
        var result = _dp.Run(reply);

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        var ip = FrameView.Parse(result.Output).Ip;
        Assert.Multiple(() =>
        {
            Assert.That(ip.Source, Is.EqualTo(TcpVip.Address));
            Assert.That(ip.Tcp.SourcePort, Is.EqualTo(TcpVip.Port));
            Assert.That(ip.Destination, Is.EqualTo(Client.Address));
            Assert.That(ip.Tcp.DestinationPort, Is.EqualTo(Client.Port));
        });
        GoldenDataplane.AssertFrame(result.Output,
            Frames.Tcp(TcpVip, Client, TcpFlags.Syn | TcpFlags.Ack, sequence: 5000, acknowledgment: 1001, options: Frames.SynOptions));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1), (CounterReason.NatReverse, 1));
        Assert.That(_dp.ConntrackEntry(TcpForwardKey).TcpState, Is.EqualTo(ConntrackTcpState.Established));
    }

    [Test]
    public void UdpReplyFromBackendComesFromTheVip()
    {
        _dp.AddService(UdpVip, L4Protocol.Udp, [UdpBackendA]);
        _dp.Run(Frames.Udp(Client, UdpVip));

        var answer = "answer:192.0.2.1"u8.ToArray();
        var result = _dp.Run(Frames.Udp(UdpBackendA, Client, answer));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output, Frames.Udp(UdpVip, Client, answer));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1), (CounterReason.NatReverse, 1));
    }

    [Test]
    public void ReplyFromBackendPortWithoutFlowIsNotTranslated()
    {
        // The backend answering from another port has no reverse entry: it must not be rewritten.
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);
        _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Syn));
        var stray = Frames.Tcp(new Endpoint(BackendA.Address, 8081), Client, TcpFlags.Syn | TcpFlags.Ack, sequence: 5000, acknowledgment: 1001);

        var result = _dp.Run(stray);

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output, stray);
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1), (CounterReason.PassNoService, 1));
    }

    [Test]
    public void ClientFinMovesTheFlowToClosingAndRstClosesIt()
    {
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);
        _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Syn, sequence: 1000));
        _dp.Run(Frames.Tcp(BackendA, Client, TcpFlags.Syn | TcpFlags.Ack, sequence: 5000, acknowledgment: 1001));
        Assert.That(_dp.ConntrackEntry(TcpForwardKey).TcpState, Is.EqualTo(ConntrackTcpState.Established));

        var fin = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Fin | TcpFlags.Ack, sequence: 1001, acknowledgment: 5001));
        Assert.That(fin.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(fin.Output, Frames.Tcp(Client, BackendA, TcpFlags.Fin | TcpFlags.Ack, sequence: 1001, acknowledgment: 5001));
        var closing = _dp.ConntrackEntry(TcpForwardKey);
        Assert.Multiple(() =>
        {
            Assert.That(closing.TcpState, Is.EqualTo(ConntrackTcpState.Closing));
            Assert.That(closing.FinSeen & 1, Is.EqualTo(1), "PR_CT_FIN_FROM_CLIENT");
        });

        var rst = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Rst, sequence: 1002));
        Assert.That(rst.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(rst.Output, Frames.Tcp(Client, BackendA, TcpFlags.Rst, sequence: 1002));
        Assert.That(_dp.ConntrackEntry(TcpForwardKey).TcpState, Is.EqualTo(ConntrackTcpState.Closed));
        GoldenDataplane.AssertCounters(_dp.Counters(),
            (CounterReason.NatNewFlow, 1), (CounterReason.NatReverse, 1), (CounterReason.NatEstablished, 2));
    }
}
