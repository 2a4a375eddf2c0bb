using System.Net.NetworkInformation;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Tests.Packets;
using static ProxyReplacement.Dataplane.Tests.Golden.Topology;

namespace ProxyReplacement.Dataplane.Tests.Golden;

/// <summary>program.md §1, §2, §4: traffic that is not for a Service leaves byte for byte as it came.</summary>
[TestFixture(DataplaneVariant.Fast), TestFixture(DataplaneVariant.Compat), Category("Privileged")]
public sealed class PassThroughGoldenTests(DataplaneVariant variant)
{
    private GoldenDataplane _dp = null!;

    [OneTimeSetUp] public void LoadDataplane() => _dp = GoldenDataplane.Load(variant);
    [OneTimeTearDown] public void Unload() => _dp?.Dispose();

    [SetUp]
    public void Reset()
    {
        _dp.Reset();
        // Services exist, so "untouched" means the program looked and decided, not that the maps were empty.
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);
        _dp.AddService(UdpVip, L4Protocol.Udp, [UdpBackendA], serviceId: ServiceId + 1);
    }

    private static IEnumerable<TestCaseData> NonServiceIpv4() =>
    [
        new TestCaseData(Frames.Tcp(Client, Unrelated, TcpFlags.Syn, options: Frames.SynOptions)).SetName("TcpToNonVip"),
        new TestCaseData(Frames.Tcp(Client, new Endpoint(TcpVip.Address, 443), TcpFlags.Syn)).SetName("TcpToVipOnAnotherPort"),
        new TestCaseData(Frames.Udp(Client, TcpVip)).SetName("UdpToTcpOnlyVipPort"),
        new TestCaseData(Frames.Tcp(Client, UdpVip, TcpFlags.Syn)).SetName("TcpToUdpOnlyVipPort"),
        new TestCaseData(Frames.Icmp(Client.Address, TcpVip.Address, IcmpMessage.Echo(0x77, 1, "abcdefgh"u8.ToArray()))).SetName("IcmpEchoToVip"),
        new TestCaseData(Frames.Icmp(Client.Address, Unrelated.Address, IcmpMessage.Echo(0x78, 2, new byte[56]))).SetName("IcmpEchoToNonVip"),
    ];

    [TestCaseSource(nameof(NonServiceIpv4))]
    public void NonServiceIpv4PassesUntouched(byte[] frame)
    {
        var result = _dp.Run(frame);

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output, frame);
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.PassNoService, 1));
        Assert.That(_dp.Dataplane.Conntrack.ReadAll(), Is.Empty, "no flow is tracked for non-service traffic");
    }

    [Test]
    public void ArpPassesUntouched()
    {
        var frame = new EthernetHeader(PhysicalAddress.Parse("FF-FF-FF-FF-FF-FF"), PodMac, EtherType.Arp)
            .Build(ArpPacket.Request(PodMac, Client.Address, TcpVip.Address));

        var result = _dp.Run(frame);

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output, frame);
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.PassNotIpv4, 1));
    }

    [Test]
    public void Ipv6PassesUntouched()
    {
        // A bare IPv6 header (no next header data): version 6, payload 0, next header 59 (none), hop limit 64.
        var ipv6 = new byte[40];
        ipv6[0] = 0x60;
        ipv6[6] = 59;
        ipv6[7] = 64;
        ipv6[8] = 0xfd;  // source fd00::1
        ipv6[23] = 1;
        ipv6[24] = 0xfd; // destination fd00::2
        ipv6[39] = 2;
        var frame = new EthernetHeader(HostMac, PodMac, EtherType.Ipv6).Build(ipv6);

        var result = _dp.Run(frame);

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output, frame);
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.PassNotIpv4, 1));
    }
}
