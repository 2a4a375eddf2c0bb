using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Programs;
using ProxyReplacement.Dataplane.Tests.Packets;
using static ProxyReplacement.Dataplane.Tests.Golden.GoldenClock;
using static ProxyReplacement.Dataplane.Tests.Golden.Topology;

namespace ProxyReplacement.Dataplane.Tests.Golden;

/// <summary>
/// Flows that talk one way (bpf-c/include/pr_conntrack.h, pr_ct_touch_reverse): a due refresh of the forward entry
/// refreshes the reverse entry too, so a backend that answers after more than the UDP timeout of its own silence,
/// while the client kept sending, is still reverse-NATed (before, its reverse entry had expired and the reply left
/// with the pod's address). Time is simulated by moving stored timestamps into the past. "Recent" entries carry a
/// last_seen ahead of the clock: within the refresh interval however slowly the test runs.
/// </summary>
[TestFixture(DataplaneVariant.Fast), TestFixture(DataplaneVariant.Compat), Category("Privileged")]
public sealed class OneWayUdpGoldenTests(DataplaneVariant variant)
{
    private const uint UdpTimeoutSeconds = 10;

    private static readonly ConntrackKey4 ForwardKey = new(Client.Address, Client.Port, UdpVip.Address, UdpVip.Port, L4Protocol.Udp);
    private static readonly ConntrackKey4 ReverseKey = new(UdpBackendA.Address, UdpBackendA.Port, Client.Address, Client.Port, L4Protocol.Udp);

    private GoldenDataplane _dp = null!;

    [OneTimeSetUp] public void LoadDataplane() => _dp = GoldenDataplane.Load(variant);
    [OneTimeTearDown] public void Unload() => _dp?.Dispose();

    [SetUp]
    public void Reset()
    {
        _dp.Reset();
        _dp.Dataplane.WriteConfig(new DataplaneConfig(tcpSynTimeoutSeconds: 60, tcpEstablishedTimeoutSeconds: 21600,
            tcpClosingTimeoutSeconds: 10, udpTimeoutSeconds: UdpTimeoutSeconds, genericTimeoutSeconds: 60));
        _dp.AddService(UdpVip, L4Protocol.Udp, [UdpBackendA]);
    }

    private static readonly ulong Created = Monotonic.NowNs() - 600 * Second;

    private static ConntrackValue4 Forward(ulong lastSeenNs) =>
        new(Created, lastSeenNs, ConntrackType.Forward, ConntrackTcpState.None, 0, 0, ServiceId, UdpBackendA.Address, UdpBackendA.Port);

    private static ConntrackValue4 Reverse(ulong lastSeenNs, Endpoint? vip = null) =>
        new(Created, lastSeenNs, ConntrackType.Reverse, ConntrackTcpState.None, 0, 0, ServiceId, (vip ?? UdpVip).Address, (vip ?? UdpVip).Port);

    /// <summary>The flow client -> UdpVip sent to UdpBackendA; no reverse entry when <paramref name="reverseLastSeenNs"/> is null.</summary>
    private void TrackFlow(ulong forwardLastSeenNs, ulong? reverseLastSeenNs)
    {
        _dp.Dataplane.Conntrack.Update(ForwardKey, Forward(forwardLastSeenNs));
        if (reverseLastSeenNs is { } reverse)
            _dp.Dataplane.Conntrack.Update(ReverseKey, Reverse(reverse));
    }

    /// <summary>As if <paramref name="by"/> passed without a packet: the entry's last_seen moves back.</summary>
    private void Age(ConntrackKey4 key, ulong by)
    {
        var v = _dp.ConntrackEntry(key);
        _dp.Dataplane.Conntrack.Update(key,
            new ConntrackValue4(v.CreatedNs, v.LastSeenNs - by, v.Type, v.TcpState, v.FinSeen, v.Flags, v.ServiceId, v.NatAddress, v.NatPort));
    }

    private TestRunResult ClientSends() => _dp.Run(Frames.Udp(Client, UdpVip));

    private TestRunResult BackendAnswers() => _dp.Run(Frames.Udp(UdpBackendA, Client, "answer"u8.ToArray()));

    [Test]
    public void A_due_forward_packet_refreshes_the_reverse_entry()
    {
        // the client sent 2 s ago (refresh due); the backend has been silent for 9 of its 10 s
        var now = NowNs;
        TrackFlow(now - 2 * Second, now - 9 * Second);

        var before = NowNs;
        var result = ClientSends();
        var after = NowNs;

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output, Frames.Udp(Client, UdpBackendA));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatEstablished, 1));
        Assert.Multiple(() =>
        {
            Assert.That(_dp.ConntrackEntry(ForwardKey).LastSeenNs, Is.InRange(before, after));
            Assert.That(_dp.ConntrackEntry(ReverseKey), Is.EqualTo(Reverse(_dp.ConntrackEntry(ReverseKey).LastSeenNs)), "only last_seen changed");
            Assert.That(_dp.ConntrackEntry(ReverseKey).LastSeenNs, Is.InRange(before, after), "the reverse entry follows the client");
        });
    }

    /// <summary>
    /// The case that broke: the client keeps sending, the backend answers once after 14 s of silence (UDP timeout
    /// 10 s). The reply must come from the VIP, not from the pod's address.
    /// </summary>
    [Test]
    public void A_backend_answering_after_longer_than_the_udp_timeout_is_still_reverse_natted()
    {
        var now = NowNs;
        TrackFlow(now - 2 * Second, now - 9 * Second);
        ClientSends();
        Age(ForwardKey, 5 * Second);
        Age(ReverseKey, 5 * Second); // 14 s since the backend's last packet, 5 s since the client's

        var result = BackendAnswers();

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output, Frames.Udp(UdpVip, Client, "answer"u8.ToArray()));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatEstablished, 1), (CounterReason.NatReverse, 1));
    }

    /// <summary>The refresh costs nothing within the interval: the reverse entry is not even looked up, let alone written.</summary>
    [Test]
    public void A_forward_packet_within_the_interval_leaves_the_reverse_entry_alone()
    {
        var reverseLastSeen = NowNs - 9 * Second;
        TrackFlow(RecentNs, reverseLastSeen);
        var forward = _dp.ConntrackEntry(ForwardKey);

        var result = ClientSends();

        GoldenDataplane.AssertFrame(result.Output, Frames.Udp(Client, UdpBackendA));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatEstablished, 1));
        Assert.Multiple(() =>
        {
            Assert.That(_dp.ConntrackEntry(ForwardKey), Is.EqualTo(forward));
            Assert.That(_dp.ConntrackEntry(ReverseKey), Is.EqualTo(Reverse(reverseLastSeen)));
        });
    }

    /// <summary>A reverse entry the LRU evicted while the flow lives is written again from the forward entry.</summary>
    [Test]
    public void A_missing_reverse_entry_is_restored_by_a_due_forward_packet()
    {
        TrackFlow(NowNs - 2 * Second, reverseLastSeenNs: null);

        var before = NowNs;
        ClientSends();
        var after = NowNs;
        var restored = _dp.ConntrackEntry(ReverseKey);
        var reply = BackendAnswers();

        Assert.Multiple(() =>
        {
            Assert.That(restored, Is.EqualTo(Reverse(restored.LastSeenNs)), "the VIP:port, service and creation time of the flow");
            Assert.That(restored.LastSeenNs, Is.InRange(before, after));
        });
        GoldenDataplane.AssertFrame(reply.Output, Frames.Udp(UdpVip, Client, "answer"u8.ToArray()));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatEstablished, 1), (CounterReason.NatReverse, 1));
    }

    /// <summary>
    /// The reverse key is the NATed 5-tuple. When it holds another flow's mapping (another VIP with the same
    /// backend, and the same client port), the refresh neither extends nor overwrites it.
    /// </summary>
    [Test]
    public void A_reverse_entry_of_another_flow_is_left_alone()
    {
        var otherVip = Endpoint.Of("10.96.0.99", 53);
        var theirs = Reverse(NowNs - 9 * Second, otherVip);
        TrackFlow(NowNs - 2 * Second, reverseLastSeenNs: null);
        _dp.Dataplane.Conntrack.Update(ReverseKey, theirs);

        ClientSends();

        Assert.That(_dp.ConntrackEntry(ReverseKey), Is.EqualTo(theirs));
    }

    /// <summary>
    /// The mirror case: the backend streams to a client that stays silent for longer than the UDP timeout. Its replies
    /// refresh the forward entry when due, so the client's next datagram stays with its backend (B here, which the
    /// Service no longer lists) instead of being balanced anew as an expired flow.
    /// </summary>
    [Test]
    public void Replies_keep_a_silent_clients_flow_with_its_backend()
    {
        var reverseKeyB = new ConntrackKey4(UdpBackendB.Address, UdpBackendB.Port, Client.Address, Client.Port, L4Protocol.Udp);
        var now = NowNs;
        _dp.Dataplane.Conntrack.Update(ForwardKey, new ConntrackValue4(Created, now - 9 * Second, ConntrackType.Forward,
            ConntrackTcpState.None, 0, 0, ServiceId, UdpBackendB.Address, UdpBackendB.Port));
        _dp.Dataplane.Conntrack.Update(reverseKeyB, Reverse(now - 2 * Second));

        var before = NowNs;
        var reply = _dp.Run(Frames.Udp(UdpBackendB, Client, "stream"u8.ToArray()));
        var after = NowNs;
        var refreshed = _dp.ConntrackEntry(ForwardKey).LastSeenNs;
        Age(ForwardKey, 5 * Second); // the client has now been silent for 14 s, past its 10 s
        Age(reverseKeyB, 5 * Second);
        var request = ClientSends();

        Assert.That(refreshed, Is.InRange(before, after), "the reply refreshed the forward entry");
        GoldenDataplane.AssertFrame(reply.Output, Frames.Udp(UdpVip, Client, "stream"u8.ToArray()));
        GoldenDataplane.AssertFrame(request.Output, Frames.Udp(Client, UdpBackendB));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatReverse, 1), (CounterReason.NatEstablished, 1));
    }

    /// <summary>The same holds for TCP, whose replies already refreshed the forward entry: now both directions refresh both.</summary>
    [Test]
    public void A_due_tcp_forward_packet_refreshes_the_reverse_entry_too()
    {
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA], serviceId: ServiceId + 1);
        var forwardKey = new ConntrackKey4(Client.Address, Client.Port, TcpVip.Address, TcpVip.Port, L4Protocol.Tcp);
        var reverseKey = new ConntrackKey4(BackendA.Address, BackendA.Port, Client.Address, Client.Port, L4Protocol.Tcp);
        var now = NowNs;
        _dp.Dataplane.Conntrack.Update(forwardKey, new ConntrackValue4(Created, now - 2 * Second, ConntrackType.Forward,
            ConntrackTcpState.Established, 0, 0, ServiceId + 1, BackendA.Address, BackendA.Port));
        _dp.Dataplane.Conntrack.Update(reverseKey, new ConntrackValue4(Created, now - 50 * Second, ConntrackType.Reverse,
            ConntrackTcpState.Established, 0, 0, ServiceId + 1, TcpVip.Address, TcpVip.Port));

        var before = NowNs;
        var result = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Ack | TcpFlags.Psh, sequence: 5, acknowledgment: 6, payload: "upload"u8.ToArray()));
        var after = NowNs;

        GoldenDataplane.AssertFrame(result.Output, Frames.Tcp(Client, BackendA, TcpFlags.Ack | TcpFlags.Psh, sequence: 5, acknowledgment: 6, payload: "upload"u8.ToArray()));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatEstablished, 1));
        Assert.That(_dp.ConntrackEntry(reverseKey).LastSeenNs, Is.InRange(before, after));
    }
}
