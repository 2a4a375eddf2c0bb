using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Conntrack;

namespace ProxyReplacement.ServiceProxy.Tests.Conntrack;

/// <summary>
/// Conntrack maintenance with the external service modes (pr_map_abi.h, PR_CT_F_SNAT/_TUNNEL/_DSR, PR_CT_TUNNEL_RETURN):
/// an external client 203.0.113.9:40000 to the NodePort 192.168.1.10:30080 of node A, balanced to 10.244.2.7:8080 on node
/// B (192.168.1.20). On A, the ingress node: the forward and reverse entries of each mode. On B: a tunnel-return entry
/// (tunnel mode) or a DSR reverse entry, neither with a forward entry there.
/// </summary>
public sealed class ConntrackModesTests
{
    private const ulong S = ConntrackTimeouts.NsPerSecond;
    private static readonly ConntrackTimeouts Timeouts = new() { TcpEstablished = TimeSpan.FromSeconds(300) };
    private static readonly ulong Now = 10_000 * S;

    private static readonly IPAddress Client = IPAddress.Parse("203.0.113.9");
    private static readonly IPAddress NodeA = IPAddress.Parse("192.168.1.10");
    private static readonly IPAddress NodeB = IPAddress.Parse("192.168.1.20");
    private static readonly IPAddress Backend = IPAddress.Parse("10.244.2.7");
    private const ushort ClientPort = 40000, NodePort = 30080, BackendPort = 8080, SnatPort = 20001;

    private static readonly ConntrackKey4 ForwardKey = new(Client, ClientPort, NodeA, NodePort, L4Protocol.Tcp);
    private static readonly ConntrackKey4 ReplyKey = new(Backend, BackendPort, Client, ClientPort, L4Protocol.Tcp);
    private static readonly ConntrackKey4 SnatReplyKey = new(Backend, BackendPort, NodeA, SnatPort, L4Protocol.Tcp);

    public enum Mode { Plain, Snat, Tunnel, Dsr }

    private static byte FlagsOf(Mode mode) => (byte)(ConntrackFlags.LocalVip | mode switch
    {
        Mode.Snat => ConntrackFlags.Snat,
        Mode.Tunnel => ConntrackFlags.Tunnel,
        Mode.Dsr => ConntrackFlags.Dsr,
        _ => ConntrackFlags.None,
    });

    /// <summary>The ingress node's pair of a flow in <paramref name="mode"/>, as the dataplane writes it.</summary>
    private static (KeyValuePair<ConntrackKey4, ConntrackValue4> Forward, KeyValuePair<ConntrackKey4, ConntrackValue4> Reverse) Flow(
        Mode mode, ulong forwardSeen, ulong reverseSeen)
    {
        var flags = FlagsOf(mode);
        var tunnel = mode is Mode.Tunnel or Mode.Dsr ? NodeB : null;
        var forward = new ConntrackValue4(forwardSeen, forwardSeen, ConntrackType.Forward, ConntrackTcpState.Established, 0, flags, 7, Backend, BackendPort,
            mode == Mode.Snat ? NodeA : null, mode == Mode.Snat ? SnatPort : (ushort)0, tunnel);
        var reverse = new ConntrackValue4(forwardSeen, reverseSeen, ConntrackType.Reverse, ConntrackTcpState.Established, 0, flags, 7, NodeA, NodePort,
            mode == Mode.Snat ? Client : null, mode == Mode.Snat ? ClientPort : (ushort)0, tunnel);
        return (new(ForwardKey, forward), new(mode == Mode.Snat ? SnatReplyKey : ReplyKey, reverse));
    }

    /// <summary>Node B's entry of a tunnelled flow: replies go back through the tunnel to A; no NAT here (nat = the backend).</summary>
    private static KeyValuePair<ConntrackKey4, ConntrackValue4> TunnelReturn(ulong seen) =>
        new(ReplyKey, new ConntrackValue4(seen, seen, ConntrackType.TunnelReturn, ConntrackTcpState.Established, 0, 0, 7, Backend, BackendPort,
            null, 0, NodeA));

    /// <summary>Node B's entry of a DSR flow: replies get the frontend as their source and go straight to the client.</summary>
    private static KeyValuePair<ConntrackKey4, ConntrackValue4> DsrReverseOnBackendNode(ulong seen) =>
        new(ReplyKey, new ConntrackValue4(seen, seen, ConntrackType.Reverse, ConntrackTcpState.Established, 0, (byte)ConntrackFlags.Dsr, 7, NodeA, NodePort,
            null, 0, NodeA));

    [TestCase(Mode.Plain)]
    [TestCase(Mode.Snat)]
    [TestCase(Mode.Tunnel)]
    [TestCase(Mode.Dsr)]
    public void Each_entry_of_a_pair_names_the_other(Mode mode)
    {
        var (forward, reverse) = Flow(mode, Now, Now);

        Assert.Multiple(() =>
        {
            Assert.That(ConntrackSweep.ReverseOf(forward.Key, forward.Value), Is.EqualTo(reverse.Key));
            Assert.That(ConntrackSweep.ForwardOf(reverse.Key, reverse.Value), Is.EqualTo(forward.Key));
            Assert.That(ConntrackSweep.IsReverseOf(reverse.Value, forward.Key), Is.True);
        });
    }

    [Test]
    public void A_snat_pair_is_keyed_by_the_snat_source_not_the_client()
    {
        var (forward, reverse) = Flow(Mode.Snat, Now, Now);

        Assert.Multiple(() =>
        {
            Assert.That(ConntrackSweep.ReverseOf(forward.Key, forward.Value).ToString(), Is.EqualTo("tcp 10.244.2.7:8080 -> 192.168.1.10:20001"));
            Assert.That(ConntrackSweep.ForwardOf(reverse.Key, reverse.Value).ToString(), Is.EqualTo("tcp 203.0.113.9:40000 -> 192.168.1.10:30080"));
        });
    }

    [TestCase(Mode.Plain)]
    [TestCase(Mode.Snat)]
    [TestCase(Mode.Tunnel)]
    [TestCase(Mode.Dsr)]
    public void An_expired_flow_goes_with_both_entries(Mode mode)
    {
        var (forward, reverse) = Flow(mode, Now - 301 * S, Now - 301 * S);

        var plan = ConntrackSweep.Plan([forward, reverse], Timeouts, Now);

        Assert.Multiple(() =>
        {
            Assert.That(plan.Delete, Is.EquivalentTo(new[] { forward.Key, reverse.Key }));
            Assert.That((plan.ExpiredFlows, plan.OrphanReverses), Is.EqualTo((1, 0)));
        });
    }

    [TestCase(Mode.Plain)]
    [TestCase(Mode.Snat)]
    [TestCase(Mode.Tunnel)]
    [TestCase(Mode.Dsr)]
    public void An_old_reverse_entry_of_a_live_flow_stays(Mode mode)
    {
        // Replies of a DSR flow never pass the ingress node, so its reverse entry there is only ever refreshed by the forward's.
        var (forward, reverse) = Flow(mode, Now - 1 * S, Now - 400 * S);

        Assert.That(ConntrackSweep.Plan([forward, reverse], Timeouts, Now).Delete, Is.Empty);
    }

    [Test]
    public void A_snat_reverse_entry_without_its_forward_goes_at_its_own_timeout_as_an_orphan()
    {
        var (_, young) = Flow(Mode.Snat, Now, Now - 10 * S);
        var (_, old) = Flow(Mode.Snat, Now, Now - 301 * S);

        Assert.Multiple(() =>
        {
            Assert.That(ConntrackSweep.Plan([young], Timeouts, Now).Delete, Is.Empty);
            var plan = ConntrackSweep.Plan([old], Timeouts, Now);
            Assert.That((plan.Delete.Single(), plan.OrphanReverses, plan.ExpiredFlows), Is.EqualTo((old.Key, 1, 0)));
        });
    }

    [Test]
    public void On_the_backends_node_a_tunnel_return_entry_lives_until_its_own_timeout()
    {
        var fresh = TunnelReturn(Now - 299 * S);
        var expired = TunnelReturn(Now - 301 * S);

        var kept = ConntrackSweep.Plan([fresh], Timeouts, Now);
        var swept = ConntrackSweep.Plan([expired], Timeouts, Now);

        Assert.Multiple(() =>
        {
            Assert.That(kept.Delete, Is.Empty);
            Assert.That(swept.Delete, Is.EqualTo(new[] { expired.Key }));
            Assert.That((swept.ExpiredFlows, swept.OrphanReverses), Is.EqualTo((1, 0)), "the flow's only entry here: a flow, not an orphan");
        });
    }

    [Test]
    public void On_the_backends_node_a_dsr_reverse_entry_lives_until_its_own_timeout()
    {
        var fresh = DsrReverseOnBackendNode(Now - 299 * S);
        var expired = DsrReverseOnBackendNode(Now - 301 * S);

        var kept = ConntrackSweep.Plan([fresh], Timeouts, Now);
        var swept = ConntrackSweep.Plan([expired], Timeouts, Now);

        Assert.Multiple(() =>
        {
            Assert.That(kept.Delete, Is.Empty);
            Assert.That(swept.Delete, Is.EqualTo(new[] { expired.Key }));
            Assert.That((swept.ExpiredFlows, swept.OrphanReverses), Is.EqualTo((1, 0)));
        });
    }

    [TestCase(Mode.Snat)]
    [TestCase(Mode.Tunnel)]
    [TestCase(Mode.Dsr)]
    public void The_sweeper_deletes_an_expired_flow_of_each_mode_whole(Mode mode)
    {
        var map = new InMemoryBpfMap<ConntrackKey4, ConntrackValue4>("pr_ct4", 64);
        var (forward, reverse) = Flow(mode, Now - 301 * S, Now - 301 * S);
        map.Update(forward.Key, forward.Value);
        map.Update(reverse.Key, reverse.Value);

        var result = new ConntrackSweeper(map, Timeouts, new ConntrackMetrics(), NullLogger.Instance, clock: () => Now).SweepOnce();

        Assert.Multiple(() =>
        {
            Assert.That((result.ExpiredFlows, result.ConntrackDeleted), Is.EqualTo((1, 2)));
            Assert.That(map.ReadAll(), Is.Empty);
        });
    }

    [Test]
    public void The_sweeper_keeps_a_snat_reverse_entry_whose_forward_is_alive()
    {
        // Confirm() looks the forward entry up again by ForwardOf: with the client's key it would find none and delete it.
        var map = new InMemoryBpfMap<ConntrackKey4, ConntrackValue4>("pr_ct4", 64);
        var (forward, reverse) = Flow(Mode.Snat, Now - 1 * S, Now - 301 * S);
        map.Update(forward.Key, forward.Value);
        map.Update(reverse.Key, reverse.Value);

        new ConntrackSweeper(map, Timeouts, new ConntrackMetrics(), NullLogger.Instance, clock: () => Now).SweepOnce();

        Assert.That(map.ReadAll().Select(e => e.Key), Is.EquivalentTo(new[] { forward.Key, reverse.Key }));
    }

    [TestCase(Mode.Plain)]
    [TestCase(Mode.Snat)]
    [TestCase(Mode.Tunnel)]
    [TestCase(Mode.Dsr)]
    public void A_removed_backend_purges_the_ingress_nodes_pair_in_every_mode(Mode mode)
    {
        var (forward, reverse) = Flow(mode, Now, Now);
        var target = new FlowTarget(new NatFrontendKey4(NodeA, NodePort, L4Protocol.Tcp), new NatBackendValue4(Backend, BackendPort));

        Assert.That(BackendFlowPurger.Plan([forward, reverse], new HashSet<FlowTarget> { target }), Is.EquivalentTo(new[] { forward.Key, reverse.Key }));
    }

    [Test]
    public void A_removed_backend_leaves_the_backends_node_entries_to_their_timeout()
    {
        // They only route replies of a flow whose forward entry, on the ingress node, that node's daemon purges.
        var target = new FlowTarget(new NatFrontendKey4(NodeA, NodePort, L4Protocol.Tcp), new NatBackendValue4(Backend, BackendPort));

        Assert.That(BackendFlowPurger.Plan([TunnelReturn(Now), DsrReverseOnBackendNode(Now)], new HashSet<FlowTarget> { target }), Is.Empty);
    }
}
