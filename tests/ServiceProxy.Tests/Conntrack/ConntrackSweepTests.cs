using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Conntrack;

namespace ProxyReplacement.ServiceProxy.Tests.Conntrack;

/// <summary>Which entries a sweep deletes: flows in forward/reverse pairs, orphans on their own age, nothing alive.</summary>
public sealed class ConntrackSweepTests
{
    private const ulong S = ConntrackTimeouts.NsPerSecond;
    private static readonly ConntrackTimeouts Timeouts = new() { Udp = TimeSpan.FromSeconds(30), TcpClosing = TimeSpan.FromSeconds(10) };
    private static readonly ulong Now = 10_000 * S;

    /// <summary>A flow client:cport -> 10.96.0.53:53 NATed to backend:5353, both entries last seen at <paramref name="lastSeen"/>.</summary>
    internal static (KeyValuePair<ConntrackKey4, ConntrackValue4> Forward, KeyValuePair<ConntrackKey4, ConntrackValue4> Reverse) Flow(
        ushort clientPort, ulong lastSeen, L4Protocol protocol = L4Protocol.Udp, ConntrackTcpState state = ConntrackTcpState.None,
        string backend = "10.244.2.7", ulong? reverseLastSeen = null, string client = "10.244.1.5")
    {
        var vip = IPAddress.Parse("10.96.0.53");
        var forwardKey = new ConntrackKey4(IPAddress.Parse(client), clientPort, vip, 53, protocol);
        var forward = new ConntrackValue4(lastSeen, lastSeen, ConntrackType.Forward, state, 0, 0, 7, IPAddress.Parse(backend), 5353);
        var reverseKey = new ConntrackKey4(IPAddress.Parse(backend), 5353, IPAddress.Parse(client), clientPort, protocol);
        var reverseSeen = reverseLastSeen ?? lastSeen;
        var reverse = new ConntrackValue4(lastSeen, reverseSeen, ConntrackType.Reverse, state, 0, 0, 7, vip, 53);
        return (new(forwardKey, forward), new(reverseKey, reverse));
    }

    [Test]
    public void An_expired_flow_goes_with_both_entries_and_a_live_one_stays()
    {
        var expired = Flow(40000, Now - 31 * S);
        var alive = Flow(40001, Now - 29 * S);
        var plan = ConntrackSweep.Plan([expired.Forward, expired.Reverse, alive.Forward, alive.Reverse], Timeouts, Now);
        Assert.Multiple(() =>
        {
            Assert.That(plan.Delete, Is.EquivalentTo(new[] { expired.Forward.Key, expired.Reverse.Key }));
            Assert.That((plan.ExpiredFlows, plan.OrphanReverses, plan.Scanned), Is.EqualTo((1, 0, 4)));
        });
    }

    [Test]
    public void A_reverse_entry_older_than_its_live_forward_entry_stays()
    {
        // The forward entry owns the flow; its next due refresh refreshes the reverse entry (pr_ct_touch_reverse).
        var flow = Flow(40000, Now - 1 * S, reverseLastSeen: Now - 100 * S);
        Assert.That(ConntrackSweep.Plan([flow.Forward, flow.Reverse], Timeouts, Now).Delete, Is.Empty);
    }

    [Test]
    public void A_reverse_entry_without_its_forward_goes_at_its_own_timeout()
    {
        var old = Flow(40000, Now - 31 * S);
        var young = Flow(40001, Now - 5 * S);
        var plan = ConntrackSweep.Plan([old.Reverse, young.Reverse], Timeouts, Now);
        Assert.Multiple(() =>
        {
            Assert.That(plan.Delete, Is.EqualTo(new[] { old.Reverse.Key }));
            Assert.That(plan.OrphanReverses, Is.EqualTo(1));
        });
    }

    [Test]
    public void An_expired_forward_does_not_take_a_reverse_entry_of_another_flow_with_it()
    {
        // The key the forward entry derives holds a reverse entry whose NAT is another VIP: another Service's flow.
        var expired = Flow(40000, Now - 31 * S);
        var foreign = new KeyValuePair<ConntrackKey4, ConntrackValue4>(expired.Reverse.Key,
            new ConntrackValue4(Now, Now, ConntrackType.Reverse, ConntrackTcpState.None, 0, 0, 9, IPAddress.Parse("10.96.0.99"), 53));
        var plan = ConntrackSweep.Plan([expired.Forward, foreign], Timeouts, Now);
        Assert.That(plan.Delete, Is.EqualTo(new[] { expired.Forward.Key }));
    }

    [Test]
    public void Tcp_flows_follow_their_state()
    {
        var closed = Flow(40000, Now - 11 * S, L4Protocol.Tcp, ConntrackTcpState.Closed);
        var established = Flow(40001, Now - 11 * S, L4Protocol.Tcp, ConntrackTcpState.Established);
        var plan = ConntrackSweep.Plan([closed.Forward, closed.Reverse, established.Forward, established.Reverse], Timeouts, Now);
        Assert.That(plan.Delete, Is.EquivalentTo(new[] { closed.Forward.Key, closed.Reverse.Key }));
    }

    [Test]
    public void The_sweeper_deletes_what_the_plan_says_and_counts_it()
    {
        var map = new InMemoryBpfMap<ConntrackKey4, ConntrackValue4>("pr_ct4", 1024);
        var flows = Enumerable.Range(0, 100).Select(i => Flow((ushort)(40000 + i), i % 2 == 0 ? Now - 31 * S : Now - 1 * S)).ToList();
        foreach (var (forward, reverse) in flows)
        {
            map.Update(forward.Key, forward.Value);
            map.Update(reverse.Key, reverse.Value);
        }
        var metrics = new ConntrackMetrics();
        var sweeper = new ConntrackSweeper(map, Timeouts, metrics, NullLogger.Instance, clock: () => Now);

        var result = sweeper.SweepOnce();

        Assert.Multiple(() =>
        {
            Assert.That((result.Scanned, result.ExpiredFlows, result.ConntrackDeleted), Is.EqualTo((200, 50, 100)));
            Assert.That(map.ReadAll().Select(e => e.Key), Is.EquivalentTo(flows.Where((_, i) => i % 2 == 1).SelectMany(f => new[] { f.Forward.Key, f.Reverse.Key })));
            Assert.That((metrics.Sweeps.Value, metrics.ExpiredFlows.Value, metrics.EntriesDeleted.Value), Is.EqualTo((1L, 50L, 100L)));
            Assert.That(metrics.MapFill["pr_ct4"], Is.EqualTo((100L, 1024L)));
        });
    }

    [Test]
    public void An_entry_a_new_flow_took_between_the_read_and_the_delete_stays()
    {
        // The dataplane overwrites an expired entry with a new flow under the same key: the sweep must not delete it.
        var expired = Flow(40000, Now - 31 * S);
        var renewed = Flow(40000, Now, backend: "10.244.2.8");
        var inner = new InMemoryBpfMap<ConntrackKey4, ConntrackValue4>("pr_ct4", 64);
        inner.Update(expired.Forward.Key, expired.Forward.Value);
        inner.Update(expired.Reverse.Key, expired.Reverse.Value);
        var map = new ReadThenChange(inner, () =>
        {
            inner.Update(renewed.Forward.Key, renewed.Forward.Value);
            inner.Update(renewed.Reverse.Key, renewed.Reverse.Value);
        });

        var result = new ConntrackSweeper(map, Timeouts, new ConntrackMetrics(), NullLogger.Instance, clock: () => Now).SweepOnce();

        Assert.Multiple(() =>
        {
            Assert.That(result.ExpiredFlows, Is.EqualTo(1), "the read saw the expired flow");
            Assert.That(inner.TryLookup(renewed.Forward.Key, out var forward) && forward == renewed.Forward.Value, Is.True, "the new flow's forward entry stays");
            Assert.That(inner.TryLookup(renewed.Reverse.Key, out var reverse) && reverse == renewed.Reverse.Value, Is.True, "the new flow's reverse entry stays");
            Assert.That(inner.TryLookup(expired.Reverse.Key, out _), Is.False, "the old flow's reverse entry (another backend's key) goes");
        });
    }

    /// <summary>A map whose <see cref="ReadAll"/> returns what it holds, then lets <c>change</c> alter it (the dataplane acting meanwhile).</summary>
    private sealed class ReadThenChange(InMemoryBpfMap<ConntrackKey4, ConntrackValue4> inner, Action change) : IBpfMap<ConntrackKey4, ConntrackValue4>
    {
        public string Name => inner.Name;
        public int MaxEntries => inner.MaxEntries;
        public bool TryLookup(in ConntrackKey4 key, out ConntrackValue4 value) => inner.TryLookup(key, out value);
        public void Update(in ConntrackKey4 key, in ConntrackValue4 value, MapUpdateMode mode = MapUpdateMode.Any) => inner.Update(key, value, mode);
        public bool Delete(in ConntrackKey4 key) => inner.Delete(key);

        public IReadOnlyList<KeyValuePair<ConntrackKey4, ConntrackValue4>> ReadAll()
        {
            var entries = inner.ReadAll();
            change();
            return entries;
        }
    }
}
