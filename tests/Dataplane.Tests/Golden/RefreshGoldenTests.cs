using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Tests.Packets;
using static ProxyReplacement.Dataplane.Tests.Golden.GoldenClock;
using static ProxyReplacement.Dataplane.Tests.Golden.Topology;

namespace ProxyReplacement.Dataplane.Tests.Golden;

/// <summary>
/// The coarse last_seen refresh (PR_CT_REFRESH_NS, 100 ms, in bpf-c/include/pr_conntrack.h): a packet of a tracked
/// flow writes last_seen only when it is at least that old, or during the TCP handshake; a reply looks up the
/// forward entry only when it may change the TCP state or the refresh is due, and then refreshes both entries.
/// "Recent" entries here carry a last_seen ahead of the clock (as when another CPU touched the entry a hair
/// later): that is within the interval however slowly the test runs. "Due" entries are seconds old.
/// </summary>
[TestFixture(DataplaneVariant.Fast), TestFixture(DataplaneVariant.Compat), Category("Privileged")]
public sealed class RefreshGoldenTests(DataplaneVariant variant)
{

    private static readonly ConntrackKey4 ForwardKey = new(Client.Address, Client.Port, TcpVip.Address, TcpVip.Port, L4Protocol.Tcp);
    private static readonly ConntrackKey4 ReverseKey = new(BackendA.Address, BackendA.Port, Client.Address, Client.Port, L4Protocol.Tcp);

    private GoldenDataplane _dp = null!;

    [OneTimeSetUp] public void LoadDataplane() => _dp = GoldenDataplane.Load(variant);
    [OneTimeTearDown] public void Unload() => _dp?.Dispose();

    [SetUp]
    public void Reset()
    {
        _dp.Reset();
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);
    }

    /// <summary>The entry pair of a flow client -> TcpVip sent to BackendA, both with <paramref name="lastSeenNs"/>.</summary>
    private void TrackFlow(ConntrackTcpState state, ulong lastSeenNs, ulong? reverseLastSeenNs = null)
    {
        var created = Monotonic.NowNs() - 60 * Second;
        _dp.Dataplane.Conntrack.Update(ForwardKey,
            new ConntrackValue4(created, lastSeenNs, ConntrackType.Forward, state, 0, 0, ServiceId, BackendA.Address, BackendA.Port));
        _dp.Dataplane.Conntrack.Update(ReverseKey,
            new ConntrackValue4(created, reverseLastSeenNs ?? lastSeenNs, ConntrackType.Reverse, state, 0, 0, ServiceId, TcpVip.Address, TcpVip.Port));
    }

    [Test]
    public void PacketOfAnEstablishedFlowWithinTheIntervalDoesNotWriteLastSeen()
    {
        var lastSeen = RecentNs;
        TrackFlow(ConntrackTcpState.Established, lastSeen);

        var result = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Ack | TcpFlags.Psh, sequence: 5, acknowledgment: 6, payload: "data"u8.ToArray()));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output, Frames.Tcp(Client, BackendA, TcpFlags.Ack | TcpFlags.Psh, sequence: 5, acknowledgment: 6, payload: "data"u8.ToArray()));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatEstablished, 1));
        Assert.That(_dp.ConntrackEntry(ForwardKey).LastSeenNs, Is.EqualTo(lastSeen));
    }

    [TestCase(ConntrackTcpState.Established)]
    [TestCase(ConntrackTcpState.Closing)]
    [TestCase(ConntrackTcpState.SynSent)]
    public void PacketAfterTheIntervalRefreshesLastSeen(ConntrackTcpState state)
    {
        TrackFlow(state, Monotonic.NowNs() - Second);

        var before = Monotonic.NowNs();
        var result = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Ack, sequence: 5, acknowledgment: 6));
        var after = Monotonic.NowNs();

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatEstablished, 1));
        Assert.That(_dp.ConntrackEntry(ForwardKey).LastSeenNs, Is.InRange(before, after));
    }

    /// <summary>The handshake refreshes on every packet: a handful of packets, whose timeout is the shortest.</summary>
    [Test]
    public void HandshakePacketRefreshesLastSeenAtOnce()
    {
        var lastSeen = Monotonic.NowNs() - 1;
        TrackFlow(ConntrackTcpState.SynSent, lastSeen);

        var before = Monotonic.NowNs();
        _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Syn, sequence: 1000));
        var after = Monotonic.NowNs();

        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatEstablished, 1));
        Assert.That(_dp.ConntrackEntry(ForwardKey).LastSeenNs, Is.InRange(before, after));
    }

    [Test]
    public void ReplyWithinTheIntervalLeavesBothEntriesAlone()
    {
        TrackFlow(ConntrackTcpState.Established, RecentNs);
        var forward = _dp.ConntrackEntry(ForwardKey);
        var reverse = _dp.ConntrackEntry(ReverseKey);

        var result = _dp.Run(Frames.Tcp(BackendA, Client, TcpFlags.Ack | TcpFlags.Psh, sequence: 9, acknowledgment: 10, payload: "answer"u8.ToArray()));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output, Frames.Tcp(TcpVip, Client, TcpFlags.Ack | TcpFlags.Psh, sequence: 9, acknowledgment: 10, payload: "answer"u8.ToArray()));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatReverse, 1));
        Assert.Multiple(() =>
        {
            Assert.That(_dp.ConntrackEntry(ForwardKey), Is.EqualTo(forward));
            Assert.That(_dp.ConntrackEntry(ReverseKey), Is.EqualTo(reverse));
        });
    }

    [Test]
    public void ReplyAfterTheIntervalRefreshesBothEntries()
    {
        TrackFlow(ConntrackTcpState.Established, Monotonic.NowNs() - 2 * Second);

        var before = Monotonic.NowNs();
        _dp.Run(Frames.Tcp(BackendA, Client, TcpFlags.Ack, sequence: 9, acknowledgment: 10));
        var after = Monotonic.NowNs();

        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatReverse, 1));
        Assert.Multiple(() =>
        {
            Assert.That(_dp.ConntrackEntry(ForwardKey).LastSeenNs, Is.InRange(before, after), "the forward entry follows the reply");
            Assert.That(_dp.ConntrackEntry(ReverseKey).LastSeenNs, Is.InRange(before, after));
        });
    }

    /// <summary>A state change does not wait for the refresh: a backend's FIN moves the forward entry's state at once.</summary>
    [Test]
    public void ReplyFinWithinTheIntervalStillMovesTheFlowState()
    {
        var lastSeen = RecentNs;
        TrackFlow(ConntrackTcpState.Established, lastSeen);

        _dp.Run(Frames.Tcp(BackendA, Client, TcpFlags.Fin | TcpFlags.Ack, sequence: 9, acknowledgment: 10));

        var forward = _dp.ConntrackEntry(ForwardKey);
        var reverse = _dp.ConntrackEntry(ReverseKey);
        Assert.Multiple(() =>
        {
            Assert.That(forward.TcpState, Is.EqualTo(ConntrackTcpState.Closing));
            Assert.That(forward.FinSeen, Is.EqualTo(2), "PR_CT_FIN_FROM_BACKEND");
            Assert.That(reverse.TcpState, Is.EqualTo(ConntrackTcpState.Closing), "the reverse entry mirrors the state");
            Assert.That(reverse.FinSeen, Is.EqualTo(2));
            Assert.That(forward.LastSeenNs, Is.EqualTo(lastSeen), "the refresh itself still waits for the interval");
        });
    }

    /// <summary>
    /// What the coarse refresh means for expiry: replies keep a flow alive through its forward entry, refreshed
    /// with the reverse entry's refresh, so a client that only ever receives is not expired under its data.
    /// </summary>
    [Test]
    public void RepliesKeepTheForwardEntryAlive()
    {
        _dp.Dataplane.WriteConfig(new DataplaneConfig(tcpSynTimeoutSeconds: 60, tcpEstablishedTimeoutSeconds: 10,
            tcpClosingTimeoutSeconds: 10, udpTimeoutSeconds: 60, genericTimeoutSeconds: 60));
        var now = Monotonic.NowNs();
        // the forward entry alone would have expired (20 s > 10 s); the reverse one is alive but due (5 s)
        TrackFlow(ConntrackTcpState.Established, now - 20 * Second, reverseLastSeenNs: now - 5 * Second);

        _dp.Run(Frames.Tcp(BackendA, Client, TcpFlags.Ack | TcpFlags.Psh, sequence: 9, acknowledgment: 10, payload: "push"u8.ToArray()));
        var result = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Ack, sequence: 10, acknowledgment: 13));

        GoldenDataplane.AssertFrame(result.Output, Frames.Tcp(Client, BackendA, TcpFlags.Ack, sequence: 10, acknowledgment: 13));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatReverse, 1), (CounterReason.NatEstablished, 1));
    }
}
