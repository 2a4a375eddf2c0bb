using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Tests.Packets;
using static ProxyReplacement.Dataplane.Tests.Golden.Topology;

namespace ProxyReplacement.Dataplane.Tests.Golden;

/// <summary>program.md §2: truncated or invalid headers are dropped with a reason; later fragments pass.</summary>
[TestFixture(DataplaneVariant.Fast), TestFixture(DataplaneVariant.Compat), Category("Privileged")]
public sealed class MalformedGoldenTests(DataplaneVariant variant)
{
    private GoldenDataplane _dp = null!;

    [OneTimeSetUp] public void LoadDataplane() => _dp = GoldenDataplane.Load(variant);
    [OneTimeTearDown] public void Unload() => _dp?.Dispose();

    [SetUp]
    public void Reset()
    {
        _dp.Reset();
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);
        _dp.AddService(UdpVip, L4Protocol.Udp, [UdpBackendA], serviceId: ServiceId + 1);
    }

    /// <summary>An IPv4 packet whose total length is honest but whose L4 header is cut at <paramref name="keep"/> bytes.</summary>
    private static byte[] Truncated(Endpoint destination, byte protocol, byte[] l4, int keep) =>
        Frames.FromPod(Frames.Ip(Client.Address, destination.Address, protocol).Build(l4.AsSpan(0, keep)));

    private static IEnumerable<TestCaseData> MalformedFrames()
    {
        var syn = Frames.TcpSegment(Client, TcpVip, TcpFlags.Syn).Build(Client.Address, TcpVip.Address);
        yield return new TestCaseData(Truncated(TcpVip, IpProtocol.Tcp, syn, 10)).SetName("TcpHeaderOf10Bytes");
        yield return new TestCaseData(Truncated(TcpVip, IpProtocol.Tcp, syn, 19)).SetName("TcpHeaderOf19Bytes");
        var udp = new UdpDatagram { SourcePort = Client.Port, DestinationPort = UdpVip.Port }.Build(Client.Address, UdpVip.Address);
        yield return new TestCaseData(Truncated(UdpVip, IpProtocol.Udp, udp, 4)).SetName("UdpHeaderOf4Bytes");
        var echo = IcmpMessage.Echo(1, 1, []).Build();
        yield return new TestCaseData(Truncated(TcpVip, IpProtocol.Icmp, echo, 4)).SetName("IcmpHeaderOf4Bytes");

        var ihlFour = Frames.Tcp(Client, TcpVip, TcpFlags.Syn);
        ihlFour[EthernetHeader.Length] = 0x44;
        yield return new TestCaseData(ihlFour).SetName("Ipv4HeaderLengthBelowFive");
    }

    [TestCaseSource(nameof(MalformedFrames))]
    public void MalformedPacketIsDropped(byte[] frame)
    {
        var result = _dp.Run(frame);

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Shot));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.DropMalformed, 1));
        Assert.That(_dp.Dataplane.Conntrack.ReadAll(), Is.Empty);
    }

    [Test]
    public void NonFirstFragmentToAVipPassesUntouched()
    {
        // The second fragment of a UDP datagram to the VIP: no ports in it, so nothing to translate.
        var ip = Frames.Ip(Client.Address, UdpVip.Address, IpProtocol.Udp) with { DontFragment = false, MoreFragments = false, FragmentOffset = 185 };
        var frame = Frames.FromPod(ip.Build("the tail of a large datagram"u8.ToArray()));

        var result = _dp.Run(frame);

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output, frame);
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.PassFragment, 1));
    }
}
