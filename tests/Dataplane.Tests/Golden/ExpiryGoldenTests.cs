using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Tests.Packets;
using static ProxyReplacement.Dataplane.Tests.Golden.GoldenClock;
using static ProxyReplacement.Dataplane.Tests.Golden.Topology;

namespace ProxyReplacement.Dataplane.Tests.Golden;

/// <summary>program.md §3: an expired forward entry is treated as absent and the flow is balanced anew.</summary>
[TestFixture(DataplaneVariant.Fast), TestFixture(DataplaneVariant.Compat), Category("Privileged")]
public sealed class ExpiryGoldenTests(DataplaneVariant variant)
{
    private static readonly ConntrackKey4 ForwardKey = new(Client.Address, Client.Port, UdpVip.Address, UdpVip.Port, L4Protocol.Udp);

    private GoldenDataplane _dp = null!;

    [OneTimeSetUp] public void LoadDataplane() => _dp = GoldenDataplane.Load(variant);
    [OneTimeTearDown] public void Unload() => _dp?.Dispose();

    [SetUp]
    public void Reset()
    {
        _dp.Reset();
        _dp.Dataplane.WriteConfig(new DataplaneConfig(tcpSynTimeoutSeconds: 60, tcpEstablishedTimeoutSeconds: 21600,
            tcpClosingTimeoutSeconds: 10, udpTimeoutSeconds: 1, genericTimeoutSeconds: 60));
        // The Service now sends to A; the tracked flow went to B.
        _dp.AddService(UdpVip, L4Protocol.Udp, [UdpBackendA]);
    }

    private void TrackFlowToB(ulong lastSeenNs)
    {
        _dp.Dataplane.Conntrack.Update(ForwardKey,
            new ConntrackValue4(lastSeenNs - Second, lastSeenNs, ConntrackType.Forward, ConntrackTcpState.None, 0, 0, ServiceId, UdpBackendB.Address, UdpBackendB.Port));
        _dp.Dataplane.Conntrack.Update(new ConntrackKey4(UdpBackendB.Address, UdpBackendB.Port, Client.Address, Client.Port, L4Protocol.Udp),
            new ConntrackValue4(lastSeenNs - Second, lastSeenNs, ConntrackType.Reverse, ConntrackTcpState.None, 0, 0, ServiceId, UdpVip.Address, UdpVip.Port));
    }

    [Test]
    public void ExpiredUdpFlowIsRebalancedToTheCurrentBackend()
    {
        TrackFlowToB(Monotonic.NowNs() - 5 * Second);

        var before = Monotonic.NowNs();
        var result = _dp.Run(Frames.Udp(Client, UdpVip));
        var after = Monotonic.NowNs();

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output, Frames.Udp(Client, UdpBackendA));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.ConntrackExpired, 1), (CounterReason.NatNewFlow, 1));
        var forward = _dp.ConntrackEntry(ForwardKey);
        var reverse = _dp.ConntrackEntry(new ConntrackKey4(UdpBackendA.Address, UdpBackendA.Port, Client.Address, Client.Port, L4Protocol.Udp));
        Assert.Multiple(() =>
        {
            Assert.That(forward.NatAddress, Is.EqualTo(UdpBackendA.Address));
            Assert.That(forward.NatPort, Is.EqualTo(UdpBackendA.Port));
            Assert.That(forward.CreatedNs, Is.InRange(before, after), "a new entry, not the old one touched");
            Assert.That(forward.LastSeenNs, Is.InRange(before, after));
            Assert.That(reverse.Type, Is.EqualTo(ConntrackType.Reverse));
            Assert.That(reverse.NatAddress, Is.EqualTo(UdpVip.Address));
            Assert.That(reverse.NatPort, Is.EqualTo(UdpVip.Port));
        });
    }

    [Test]
    public void UdpFlowWithinItsTimeoutKeepsItsBackend()
    {
        var lastSeen = Monotonic.NowNs() - Second / 5;
        TrackFlowToB(lastSeen);

        var result = _dp.Run(Frames.Udp(Client, UdpVip));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output, Frames.Udp(Client, UdpBackendB));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatEstablished, 1));
        Assert.That(_dp.ConntrackEntry(ForwardKey).LastSeenNs, Is.GreaterThan(lastSeen));
    }

    /// <summary>The timeout follows the forward entry's TCP state: 1 s for SynSent here, hours once Established.</summary>
    [TestCase(ConntrackTcpState.SynSent, true)]
    [TestCase(ConntrackTcpState.Established, false)]
    public void TcpTimeoutDependsOnTheFlowState(ConntrackTcpState state, bool expires)
    {
        _dp.Dataplane.WriteConfig(new DataplaneConfig(tcpSynTimeoutSeconds: 1, tcpEstablishedTimeoutSeconds: 3600,
            tcpClosingTimeoutSeconds: 10, udpTimeoutSeconds: 60, genericTimeoutSeconds: 60));
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA], serviceId: ServiceId + 1);
        var lastSeen = Monotonic.NowNs() - 5 * Second;
        _dp.Dataplane.Conntrack.Update(new ConntrackKey4(Client.Address, Client.Port, TcpVip.Address, TcpVip.Port, L4Protocol.Tcp),
            new ConntrackValue4(lastSeen, lastSeen, ConntrackType.Forward, state, 0, 0, ServiceId + 1, BackendB.Address, BackendB.Port));

        var result = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Ack, sequence: 77, acknowledgment: 88));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        if (expires)
        {
            GoldenDataplane.AssertFrame(result.Output, Frames.Tcp(Client, BackendA, TcpFlags.Ack, sequence: 77, acknowledgment: 88));
            GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.ConntrackExpired, 1), (CounterReason.NatNewFlow, 1));
        }
        else
        {
            GoldenDataplane.AssertFrame(result.Output, Frames.Tcp(Client, BackendB, TcpFlags.Ack, sequence: 77, acknowledgment: 88));
            GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatEstablished, 1));
        }
    }

    [Test]
    public void ZeroTimeoutInConfigMeansTheDefault()
    {
        // udp 0 -> PR_DEFAULT_UDP_TIMEOUT_S (60 s): five seconds of silence is no expiry.
        _dp.Dataplane.WriteConfig(new DataplaneConfig(0, 0, 0, 0, 0));
        TrackFlowToB(Monotonic.NowNs() - 5 * Second);

        var result = _dp.Run(Frames.Udp(Client, UdpVip));

        GoldenDataplane.AssertFrame(result.Output, Frames.Udp(Client, UdpBackendB));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatEstablished, 1));
    }
}
