using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Conntrack;

namespace ProxyReplacement.ServiceProxy.Tests.Conntrack;

/// <summary>
/// A SNATed flow closed by FINs both ways keeps its entries, and so its SNAT port, <see cref="SnatTimeWait.Seconds"/> (70 s)
/// after its last packet, as pr_ct_timeout_ns does: the backend that closed first holds {backend:port, node:SNAT port} in
/// TIME_WAIT for 60 s and refuses about half the SYNs that reuse the tuple sooner. The flow: external client
/// 203.0.113.9:40000 to node A's NodePort 192.168.1.10:30080, balanced to 10.244.2.7:8080 on node B, SNATed to
/// 192.168.1.10:20001. The closing timeout is the default 10 s.
/// </summary>
public sealed class SnatTimeWaitTests
{
    private const ulong S = ConntrackTimeouts.NsPerSecond;
    private const byte Tcp = (byte)L4Protocol.Tcp;
    private const byte BothFins = SnatTimeWait.FinFromClient | SnatTimeWait.FinFromBackend;
    private static readonly ConntrackTimeouts Timeouts = new() { TcpEstablished = TimeSpan.FromSeconds(300) };
    private static readonly ulong Now = 10_000 * S;

    private static readonly IPAddress Client = IPAddress.Parse("203.0.113.9");
    private static readonly IPAddress NodeA = IPAddress.Parse("192.168.1.10");
    private static readonly IPAddress Backend = IPAddress.Parse("10.244.2.7");
    private const ushort ClientPort = 40000, NodePort = 30080, BackendPort = 8080, SnatPort = 20001;

    private static readonly ConntrackKey4 ForwardKey = new(Client, ClientPort, NodeA, NodePort, L4Protocol.Tcp);

    /// <summary>What pr_snat_port looks up to decide whether the port is free: the reply tuple {backend, node, bport, port}.</summary>
    private static readonly ConntrackKey4 SnatReplyKey = new(Backend, BackendPort, NodeA, SnatPort, L4Protocol.Tcp);

    private static readonly ConntrackKey4 PlainReplyKey = new(Backend, BackendPort, Client, ClientPort, L4Protocol.Tcp);

    /// <summary>The ingress node's pair of a closed flow (SNATed or not), last seen <paramref name="idleSeconds"/> ago.</summary>
    private static (KeyValuePair<ConntrackKey4, ConntrackValue4> Forward, KeyValuePair<ConntrackKey4, ConntrackValue4> Reverse) Closed(
        bool snat, byte finSeen, ulong idleSeconds)
    {
        var seen = Now - idleSeconds * S;
        var flags = (byte)(ConntrackFlags.LocalVip | (snat ? ConntrackFlags.Snat : ConntrackFlags.None));
        var forward = new ConntrackValue4(seen - S, seen, ConntrackType.Forward, ConntrackTcpState.Closed, finSeen, flags, 7, Backend, BackendPort,
            snat ? NodeA : null, snat ? SnatPort : (ushort)0, null);
        var reverse = new ConntrackValue4(seen - S, seen, ConntrackType.Reverse, ConntrackTcpState.Closed, finSeen, flags, 7, NodeA, NodePort,
            snat ? Client : null, snat ? ClientPort : (ushort)0, null);
        return (new(ForwardKey, forward), new(snat ? SnatReplyKey : PlainReplyKey, reverse));
    }

    [TestCase(true, BothFins, 70ul, Description = "SNAT, FINs both ways: the backend's TIME_WAIT with margin")]
    [TestCase(true, SnatTimeWait.FinFromBackend, 10ul, Description = "SNAT, the backend's FIN then an RST: no TIME_WAIT is left")]
    [TestCase(true, (byte)0, 10ul, Description = "SNAT, reset without FIN")]
    [TestCase(false, BothFins, 10ul, Description = "not SNATed: the backend's TIME_WAIT holds the client's own tuple, no port of ours")]
    public void The_timeout_of_a_closed_flow(bool snat, byte finSeen, ulong seconds)
    {
        var (forward, reverse) = Closed(snat, finSeen, 0);

        Assert.Multiple(() =>
        {
            Assert.That(Timeouts.TimeoutNs(Tcp, forward.Value), Is.EqualTo(seconds * S), "forward entry");
            Assert.That(Timeouts.TimeoutNs(Tcp, reverse.Value), Is.EqualTo(seconds * S), "reverse entry: the same, it holds the port");
        });
    }

    [Test]
    public void A_closing_timeout_longer_than_the_time_wait_applies_to_snat_flows_too()
    {
        var longer = Timeouts with { TcpClosing = TimeSpan.FromSeconds(120) };
        var (forward, _) = Closed(snat: true, BothFins, 0);

        Assert.That(longer.TimeoutNs(Tcp, forward.Value), Is.EqualTo(120 * S));
    }

    [Test]
    public void Only_a_closed_tcp_flow_is_raised()
    {
        var established = new ConntrackValue4(Now, Now, ConntrackType.Forward, ConntrackTcpState.Established, BothFins, (byte)ConntrackFlags.Snat, 7,
            Backend, BackendPort, NodeA, SnatPort, null);
        var udp = new ConntrackValue4(Now, Now, ConntrackType.Forward, ConntrackTcpState.Closed, BothFins, (byte)ConntrackFlags.Snat, 7,
            Backend, BackendPort, NodeA, SnatPort, null);

        Assert.Multiple(() =>
        {
            Assert.That(Timeouts.TimeoutNs(Tcp, established), Is.EqualTo(300 * S));
            Assert.That(Timeouts.TimeoutNs((byte)L4Protocol.Udp, udp), Is.EqualTo(60 * S), "the TCP state means nothing for UDP");
        });
    }

    /// <summary>The sweeper, on a map: the pair stays through the backend's TIME_WAIT and goes after; the port is free when the reply key is gone.</summary>
    [TestCase(11ul, true, Description = "past the closing timeout, within the TIME_WAIT: before the fix the port was freed here")]
    [TestCase(69ul, true)]
    [TestCase(70ul, true, Description = "exactly the timeout: alive, as pr_ct_age decides")]
    [TestCase(71ul, false)]
    public void The_sweeper_keeps_a_closed_snat_flows_port_until_the_time_wait_is_over(ulong idleSeconds, bool reserved)
    {
        var map = new InMemoryBpfMap<ConntrackKey4, ConntrackValue4>("pr_ct4", 64);
        var (forward, reverse) = Closed(snat: true, BothFins, idleSeconds);
        map.Update(forward.Key, forward.Value);
        map.Update(reverse.Key, reverse.Value);

        var result = new ConntrackSweeper(map, Timeouts, new ConntrackMetrics(), NullLogger.Instance, clock: () => Now).SweepOnce();

        Assert.Multiple(() =>
        {
            Assert.That(map.TryLookup(SnatReplyKey, out _), Is.EqualTo(reserved), "the SNAT port's reply key");
            Assert.That(map.TryLookup(ForwardKey, out _), Is.EqualTo(reserved), "the forward entry goes with it");
            Assert.That((result.ExpiredFlows, result.ConntrackDeleted), Is.EqualTo(reserved ? (0, 0) : (1, 2)));
        });
    }

    [TestCase(true, BothFins, 11ul, true, Description = "SNAT, FIN-closed: kept")]
    [TestCase(true, (byte)0, 11ul, false, Description = "SNAT, RST: the closing timeout")]
    [TestCase(false, BothFins, 11ul, false, Description = "not SNATed: the closing timeout")]
    public void The_sweeper_applies_the_time_wait_only_to_snat_flows_closed_by_fins(bool snat, byte finSeen, ulong idleSeconds, bool kept)
    {
        var (forward, reverse) = Closed(snat, finSeen, idleSeconds);

        var plan = ConntrackSweep.Plan([forward, reverse], Timeouts, Now);

        Assert.That(plan.Delete, kept ? Is.Empty : Is.EquivalentTo(new[] { forward.Key, reverse.Key }));
    }

    /// <summary>
    /// The client reused its port for a new flow before the old one's time was up (a SYN on a closed tuple is a new flow:
    /// it overwrote the forward entry and took another SNAT port). The old reverse entry, alone now, still holds the old
    /// port through the backend's TIME_WAIT, by its own state: it is an orphan that goes at its own timeout.
    /// </summary>
    [TestCase(30ul, false)]
    [TestCase(71ul, true)]
    public void An_orphaned_reverse_entry_of_a_closed_snat_flow_holds_its_port_as_long(ulong idleSeconds, bool swept)
    {
        var (_, reverse) = Closed(snat: true, BothFins, idleSeconds);

        var plan = ConntrackSweep.Plan([reverse], Timeouts, Now);

        Assert.That((plan.Delete.Count, plan.OrphanReverses), Is.EqualTo(swept ? (1, 1) : (0, 0)));
    }
}
