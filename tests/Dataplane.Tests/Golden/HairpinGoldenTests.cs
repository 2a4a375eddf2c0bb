using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Tests.Packets;
using static ProxyReplacement.Dataplane.Tests.Golden.Topology;

namespace ProxyReplacement.Dataplane.Tests.Golden;

/// <summary>
/// Hairpin: a pod that connects to a Service and is chosen as its own backend. Its packet gets the hairpin address
/// as source (pr_config.hairpin_addr, default 169.254.7.1: no pod owns it, so the pod's answer leaves the pod) and
/// goes straight back out of the veth it came from (MACs swapped, TC_ACT_REDIRECT to the same interface); the
/// answer, to the hairpin address, is translated back to VIP -> pod and sent back the same way.
/// </summary>
[TestFixture(DataplaneVariant.Fast), TestFixture(DataplaneVariant.Compat), Category("Privileged")]
public sealed class HairpinGoldenTests(DataplaneVariant variant)
{
    private static readonly Endpoint SelfBackend = new(Client.Address, 8080);

    private GoldenDataplane _dp = null!;

    [OneTimeSetUp] public void LoadDataplane() => _dp = GoldenDataplane.Load(variant);
    [OneTimeTearDown] public void Unload() => _dp?.Dispose();
    [SetUp] public void Reset() => _dp.Reset();

    [Test]
    public void APodBalancedToItselfTalksToItselfThroughTheHairpinAddress()
    {
        _dp.AddService(TcpVip, L4Protocol.Tcp, [SelfBackend]);
        var hairpin = new Endpoint(DataplaneConfig.DefaultHairpinAddress, Client.Port);

        var syn = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Syn, sequence: 10));

        Assert.That(syn.ReturnValue, Is.EqualTo(TcVerdict.Redirect), "straight back out of the pod's veth");
        GoldenDataplane.AssertFrame(syn.Output, Frames.BackToPod(Frames.TcpPacket(hairpin, SelfBackend, TcpFlags.Syn, sequence: 10)));
        var forward = _dp.ConntrackEntry(new ConntrackKey4(Client.Address, Client.Port, TcpVip.Address, TcpVip.Port, L4Protocol.Tcp));
        var reverse = _dp.ConntrackEntry(new ConntrackKey4(SelfBackend.Address, SelfBackend.Port, hairpin.Address, hairpin.Port, L4Protocol.Tcp));
        Assert.Multiple(() =>
        {
            Assert.That(forward.Flags & 2, Is.EqualTo(2), "PR_CT_F_HAIRPIN on the forward entry");
            Assert.That((reverse.Type, reverse.NatAddress, reverse.NatPort), Is.EqualTo((ConntrackType.Reverse, TcpVip.Address, TcpVip.Port)));
        });

        // The pod answers the hairpin address: it must see the VIP answering, at its own address.
        var synAck = _dp.Run(Frames.Tcp(SelfBackend, hairpin, TcpFlags.Syn | TcpFlags.Ack, sequence: 70, acknowledgment: 11));
        Assert.That(synAck.ReturnValue, Is.EqualTo(TcVerdict.Redirect));
        GoldenDataplane.AssertFrame(synAck.Output, Frames.BackToPod(Frames.TcpPacket(TcpVip, Client, TcpFlags.Syn | TcpFlags.Ack, sequence: 70, acknowledgment: 11)));

        var ack = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Ack, sequence: 11, acknowledgment: 71));
        Assert.That(ack.ReturnValue, Is.EqualTo(TcVerdict.Redirect));
        GoldenDataplane.AssertFrame(ack.Output, Frames.BackToPod(Frames.TcpPacket(hairpin, SelfBackend, TcpFlags.Ack, sequence: 11, acknowledgment: 71)));
        Assert.That(_dp.ConntrackEntry(new ConntrackKey4(Client.Address, Client.Port, TcpVip.Address, TcpVip.Port, L4Protocol.Tcp)).TcpState,
            Is.EqualTo(ConntrackTcpState.Established));
        GoldenDataplane.AssertCounters(_dp.Counters(),
            (CounterReason.NatNewFlow, 1), (CounterReason.NatHairpin, 1), (CounterReason.NatReverse, 1), (CounterReason.NatEstablished, 1));
    }

    [Test]
    public void AConfiguredHairpinAddressIsUsed()
    {
        var configured = System.Net.IPAddress.Parse("169.254.100.1");
        _dp.Dataplane.WriteConfig(DataplaneConfig.Default.WithHairpinAddress(configured));
        _dp.AddService(UdpVip, L4Protocol.Udp, [new Endpoint(Client.Address, 5353)]);

        var result = _dp.Run(Frames.Udp(Client, UdpVip));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Redirect));
        GoldenDataplane.AssertFrame(result.Output, Frames.BackToPod(Frames.UdpPacket(new Endpoint(configured, Client.Port), new Endpoint(Client.Address, 5353))));
        var reply = _dp.Run(Frames.Udp(new Endpoint(Client.Address, 5353), new Endpoint(configured, Client.Port)));
        GoldenDataplane.AssertFrame(reply.Output, Frames.BackToPod(Frames.UdpPacket(UdpVip, Client)));
    }

    [Test]
    public void AnotherBackendIsNoHairpin()
    {
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);

        var result = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Syn));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1));
    }
}
