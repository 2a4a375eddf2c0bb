using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Tests.Packets;
using static ProxyReplacement.Dataplane.Tests.Golden.Topology;

namespace ProxyReplacement.Dataplane.Tests.Golden;

/// <summary>
/// program.md §7: an ICMP error a backend sends about a NATed flow quotes client -> backend; the client
/// only knows client -> VIP, so the error must come from the VIP and quote the packet the client sent.
/// The expected frame is therefore the error the client would get had it talked to the VIP directly.
/// </summary>
[TestFixture(DataplaneVariant.Fast), TestFixture(DataplaneVariant.Compat), Category("Privileged")]
public sealed class IcmpErrorGoldenTests(DataplaneVariant variant)
{
    private GoldenDataplane _dp = null!;

    [OneTimeSetUp] public void LoadDataplane() => _dp = GoldenDataplane.Load(variant);
    [OneTimeTearDown] public void Unload() => _dp?.Dispose();
    [SetUp] public void Reset() => _dp.Reset();

    private static readonly byte[] Question = "a question that is longer than eight bytes"u8.ToArray();

    /// <summary>Whole quotes (Linux sends up to 576 bytes) let the quoted UDP checksum be verified too.</summary>
    [TestCase(IcmpMessage.DestinationUnreachable, true)]
    [TestCase(IcmpMessage.DestinationUnreachable, false)]
    [TestCase(IcmpMessage.TimeExceeded, true)]
    public void ErrorAboutNatedUdpFlowIsTranslatedToTheVip(byte type, bool quoteWholeDatagram)
    {
        _dp.AddService(UdpVip, L4Protocol.Udp, [UdpBackendA]);
        var sent = Frames.UdpPacket(Client, UdpVip, Question);
        var delivered = Frames.UdpPacket(Client, UdpBackendA, Question);
        var forward = _dp.Run(Frames.FromPod(sent));
        Assert.That(forward.Output, Is.EqualTo(Frames.FromPod(delivered)), "the flow is DNATed as expected first");

        var quoteBytes = quoteWholeDatagram ? UdpDatagram.HeaderLength + Question.Length : 8;
        var error = Frames.Icmp(UdpBackendA.Address, Client.Address, Error(type, delivered, quoteBytes));
        var result = _dp.Run(error);

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        var ip = FrameView.Parse(result.Output).Ip;
        var quoted = ip.Icmp.Quoted;
        Assert.Multiple(() =>
        {
            Assert.That(ip.Source, Is.EqualTo(UdpVip.Address), "outer source: backend -> VIP");
            Assert.That(ip.Destination, Is.EqualTo(Client.Address));
            Assert.That(ip.Icmp.Type, Is.EqualTo(type));
            Assert.That(quoted.Source, Is.EqualTo(Client.Address));
            Assert.That(quoted.Destination, Is.EqualTo(UdpVip.Address), "quoted destination: backend -> VIP");
            Assert.That(quoted.HeaderChecksumValid, Is.True, "quoted IPv4 checksum");
            Assert.That(quoted.Udp.SourcePort, Is.EqualTo(Client.Port));
            Assert.That(quoted.Udp.DestinationPort, Is.EqualTo(UdpVip.Port), "quoted port: backend port -> Service port");
            Assert.That(quoted.Udp.Checksum, Is.EqualTo(new UdpView(sent.AsMemory(20)).Checksum), "quoted UDP checksum as the client sent it");
        });
        GoldenDataplane.AssertFrame(result.Output, Frames.Icmp(UdpVip.Address, Client.Address, Error(type, sent, quoteBytes)));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1), (CounterReason.IcmpErrorTranslated, 1));
    }

    /// <summary>
    /// Eight quoted bytes of TCP are ports and sequence number (no checksum to fix); a whole quoted
    /// header carries the TCP checksum, which must follow the address and port change.
    /// </summary>
    [TestCase(8)]
    [TestCase(32)]
    public void ErrorAboutNatedTcpFlowIsTranslated(int quotedTcpBytes)
    {
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);
        var sent = Frames.TcpPacket(Client, TcpVip, TcpFlags.Syn, sequence: 424242, options: Frames.SynOptions);
        var delivered = Frames.TcpPacket(Client, BackendA, TcpFlags.Syn, sequence: 424242, options: Frames.SynOptions);
        Assert.That(sent, Has.Length.EqualTo(20 + 32), "the whole SYN is 32 bytes of TCP");
        _dp.Run(Frames.FromPod(sent));

        var result = _dp.Run(Frames.Icmp(BackendA.Address, Client.Address, IcmpMessage.PortUnreachable(delivered, quotedTcpBytes)));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output, Frames.Icmp(TcpVip.Address, Client.Address, IcmpMessage.PortUnreachable(sent, quotedTcpBytes)));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1), (CounterReason.IcmpErrorTranslated, 1));
    }

    [Test]
    public void ErrorFromARouterKeepsItsSourceButTheQuoteIsTranslated()
    {
        // Outer source is rewritten only when it is the backend (program.md §7).
        var router = System.Net.IPAddress.Parse("10.244.0.1");
        _dp.AddService(UdpVip, L4Protocol.Udp, [UdpBackendA]);
        var sent = Frames.UdpPacket(Client, UdpVip, Question);
        var delivered = Frames.UdpPacket(Client, UdpBackendA, Question);
        _dp.Run(Frames.FromPod(sent));
        var whole = UdpDatagram.HeaderLength + Question.Length;

        var result = _dp.Run(Frames.Icmp(router, Client.Address, IcmpMessage.TimeExceededInTransit(delivered, whole)));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output, Frames.Icmp(router, Client.Address, IcmpMessage.TimeExceededInTransit(sent, whole)));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1), (CounterReason.IcmpErrorTranslated, 1));
    }

    [Test]
    public void ErrorAboutUnknownFlowPassesUntouched()
    {
        _dp.AddService(UdpVip, L4Protocol.Udp, [UdpBackendA]);
        var unrelated = Frames.UdpPacket(Client, UdpBackendA, Question); // no flow was NATed
        var error = Frames.Icmp(UdpBackendA.Address, Client.Address, IcmpMessage.PortUnreachable(unrelated));

        var result = _dp.Run(error);

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output, error);
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.PassNoService, 1));
    }

    private static IcmpMessage Error(byte type, byte[] quotedPacket, int quotedPayloadBytes) => type switch
    {
        IcmpMessage.DestinationUnreachable => IcmpMessage.PortUnreachable(quotedPacket, quotedPayloadBytes),
        IcmpMessage.TimeExceeded => IcmpMessage.TimeExceededInTransit(quotedPacket, quotedPayloadBytes),
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };
}
