using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Tests.Packets;
using static ProxyReplacement.Dataplane.Tests.Golden.Topology;

namespace ProxyReplacement.Dataplane.Tests.Golden;

/// <summary>
/// program.md §5: a Service without backends is rejected with a TCP RST (RFC 793 "Reset Generation")
/// or an ICMP port unreachable (RFC 792, RFC 1812 §4.3.2.3), sent back out of the interface.
/// </summary>
[TestFixture(DataplaneVariant.Fast), TestFixture(DataplaneVariant.Compat), Category("Privileged")]
public sealed class RejectGoldenTests(DataplaneVariant variant)
{
    private GoldenDataplane _dp = null!;

    [OneTimeSetUp] public void LoadDataplane() => _dp = GoldenDataplane.Load(variant);
    [OneTimeTearDown] public void Unload() => _dp?.Dispose();
    [SetUp] public void Reset() => _dp.Reset();

    /// <summary>The input carries a TOS, a TTL and DF that the reply must not copy.</summary>
    private static Ipv4Header OffendingIp(Endpoint source, Endpoint destination, byte protocol) =>
        Frames.Ip(source.Address, destination.Address, protocol) with { TypeOfService = 0x10, TimeToLive = 63, DontFragment = true, Identification = 0x9abc };

    private static byte[] OffendingTcp(TcpSegment segment) =>
        Frames.FromPod(OffendingIp(Client, TcpVip, IpProtocol.Tcp).Build(segment.Build(Client.Address, TcpVip.Address)));

    /// <summary>The RST of program.md §5 from the VIP to the client, MACs swapped.</summary>
    private static byte[] ExpectedRst(TcpFlags flags, uint sequence, uint acknowledgment)
    {
        var ip = new Ipv4Header
        {
            Source = TcpVip.Address, Destination = Client.Address, Protocol = IpProtocol.Tcp,
            TypeOfService = 0, Identification = 0, DontFragment = false, TimeToLive = 64,
        };
        var rst = new TcpSegment
        {
            SourcePort = TcpVip.Port, DestinationPort = Client.Port, Sequence = sequence, Acknowledgment = acknowledgment,
            Flags = flags, Window = 0, UrgentPointer = 0,
        };
        return Frames.BackToPod(ip.Build(rst.Build(TcpVip.Address, Client.Address)));
    }

    private static IEnumerable<TestCaseData> OffendingSegments() =>
    [
        // No ACK: RST|ACK, seq 0, ack = seq + payload + SYN + FIN.
        new TestCaseData(Frames.TcpSegment(Client, TcpVip, TcpFlags.Syn, sequence: 1000, options: Frames.SynOptions),
            ExpectedRst(TcpFlags.Rst | TcpFlags.Ack, 0, 1001)).SetName("SynWithOptions"),
        new TestCaseData(Frames.TcpSegment(Client, TcpVip, TcpFlags.Fin | TcpFlags.Psh, sequence: 3000, payload: "bye!!"u8.ToArray()),
            ExpectedRst(TcpFlags.Rst | TcpFlags.Ack, 0, 3006)).SetName("FinWithPayloadWithoutAck"),
        new TestCaseData(Frames.TcpSegment(Client, TcpVip, TcpFlags.Syn, sequence: 0xFFFFFFFF),
            ExpectedRst(TcpFlags.Rst | TcpFlags.Ack, 0, 0)).SetName("SynAtTheTopOfSequenceSpaceWraps"),
        // ACK: RST, seq = its ack, ack 0.
        new TestCaseData(Frames.TcpSegment(Client, TcpVip, TcpFlags.Psh | TcpFlags.Ack, sequence: 2000, acknowledgment: 7777, payload: "hello"u8.ToArray()),
            ExpectedRst(TcpFlags.Rst, 7777, 0)).SetName("DataWithAck"),
        new TestCaseData(Frames.TcpSegment(Client, TcpVip, TcpFlags.Ack, sequence: 2000, acknowledgment: 0xFEDCBA98),
            ExpectedRst(TcpFlags.Rst, 0xFEDCBA98, 0)).SetName("BareAck"),
    ];

    [TestCaseSource(nameof(OffendingSegments))]
    public void TcpToServiceWithoutBackendsGetsRst(TcpSegment segment, byte[] expected)
    {
        _dp.AddService(TcpVip, L4Protocol.Tcp, []);

        var result = _dp.Run(OffendingTcp(segment));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Redirect));
        var ip = FrameView.Parse(result.Output).Ip;
        Assert.Multiple(() =>
        {
            Assert.That(ip.TotalLength, Is.EqualTo(40));
            Assert.That(ip.Source, Is.EqualTo(TcpVip.Address));
            Assert.That(ip.Destination, Is.EqualTo(Client.Address));
            Assert.That(ip.Tcp.Flags & TcpFlags.Rst, Is.EqualTo(TcpFlags.Rst));
        });
        GoldenDataplane.AssertFrame(result.Output, expected);
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.RejectTcpNoBackend, 1));
        Assert.That(_dp.Dataplane.Conntrack.ReadAll(), Is.Empty);
    }

    [Test]
    public void UdpToServiceWithoutBackendsGetsIcmpPortUnreachable()
    {
        _dp.AddService(UdpVip, L4Protocol.Udp, []);
        var original = OffendingIp(Client, UdpVip, IpProtocol.Udp).Build(
            new UdpDatagram { SourcePort = Client.Port, DestinationPort = UdpVip.Port, Payload = "a question that is longer than eight bytes"u8.ToArray() }
                .Build(Client.Address, UdpVip.Address));

        var result = _dp.Run(Frames.FromPod(original));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Redirect));
        var replyIp = new Ipv4Header
        {
            Source = UdpVip.Address, Destination = Client.Address, Protocol = IpProtocol.Icmp,
            TypeOfService = 0, Identification = 0, DontFragment = false, TimeToLive = 64,
        };
        var expected = Frames.BackToPod(replyIp.Build(IcmpMessage.PortUnreachable(original, payloadBytes: 8).Build()));
        var ip = FrameView.Parse(result.Output).Ip;
        Assert.Multiple(() =>
        {
            Assert.That(ip.TotalLength, Is.EqualTo(20 + 8 + 20 + 8));
            Assert.That(ip.Icmp.Type, Is.EqualTo(3));
            Assert.That(ip.Icmp.Code, Is.EqualTo(3));
            Assert.That(ip.Icmp.Body.ToArray(), Is.EqualTo(original[..28]), "the original header as received and 8 bytes");
        });
        GoldenDataplane.AssertFrame(result.Output, expected);
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.RejectUdpNoBackend, 1));
        Assert.That(_dp.Dataplane.Conntrack.ReadAll(), Is.Empty);
    }

    [Test]
    public void MissingBackendEntryIsRejected()
    {
        // count 1 but no backend at ordinal 0: a control-plane bug must still not black-hole the client.
        _dp.Dataplane.Frontends.Update(FrontendKey(TcpVip, L4Protocol.Tcp), new NatFrontendValue(ServiceId, 1));

        var result = _dp.Run(OffendingTcp(Frames.TcpSegment(Client, TcpVip, TcpFlags.Syn, sequence: 1000)));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Redirect));
        GoldenDataplane.AssertFrame(result.Output, ExpectedRst(TcpFlags.Rst | TcpFlags.Ack, 0, 1001));
        var counters = _dp.Counters();
        Assert.Multiple(() =>
        {
            Assert.That(counters.GetValueOrDefault(CounterReason.RejectBackendMissing), Is.EqualTo(1));
            Assert.That(counters.Keys, Is.SubsetOf(new[] { CounterReason.RejectBackendMissing, CounterReason.RejectTcpNoBackend }),
                "no NAT, no drop");
            Assert.That(_dp.Dataplane.Conntrack.ReadAll(), Is.Empty);
        });
    }

    [Test]
    public void RejectOfPacketWithIpOptionsIsDroppedAsUnsupported([Values] bool tcp)
    {
        var options = new byte[] { 0x94, 0x04, 0x00, 0x00 }; // router alert
        byte[] frame;
        if (tcp)
        {
            _dp.AddService(TcpVip, L4Protocol.Tcp, []);
            frame = Frames.FromPod((Frames.Ip(Client.Address, TcpVip.Address, IpProtocol.Tcp) with { Options = options })
                .Build(Frames.TcpSegment(Client, TcpVip, TcpFlags.Syn).Build(Client.Address, TcpVip.Address)));
        }
        else
        {
            _dp.AddService(UdpVip, L4Protocol.Udp, []);
            frame = Frames.FromPod((Frames.Ip(Client.Address, UdpVip.Address, IpProtocol.Udp) with { Options = options })
                .Build(new UdpDatagram { SourcePort = Client.Port, DestinationPort = UdpVip.Port }.Build(Client.Address, UdpVip.Address)));
        }

        var result = _dp.Run(frame);

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Shot));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.DropUnsupported, 1));
    }
}
