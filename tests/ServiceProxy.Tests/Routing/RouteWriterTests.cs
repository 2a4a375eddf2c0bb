using System.Net;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Routing;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Tests.Support;

namespace ProxyReplacement.ServiceProxy.Tests.Routing;

/// <summary><see cref="RouteWriter"/> against an in-memory pr_routes4: minimal writes, adds before deletes, adoption, faults.</summary>
public sealed class RouteWriterTests
{
    private static readonly IPAddress NodeA = IPAddress.Parse("192.168.1.10");
    private static readonly IPAddress NodeB = IPAddress.Parse("192.168.1.11");
    private static readonly IPAddress NodeC = IPAddress.Parse("192.168.1.12");

    private static RouteKey4 Key(string cidr) => new(IPNetwork.Parse(cidr));

    private static Dictionary<RouteKey4, RouteValue> Routes(params (string Cidr, RouteFlags Flags, IPAddress? Node)[] entries) =>
        entries.ToDictionary(entry => Key(entry.Cidr), entry => new RouteValue(entry.Flags, entry.Node));

    private static readonly Dictionary<RouteKey4, RouteValue> TwoNodes = Routes(
        ("10.244.0.0/24", RouteFlags.Local, NodeA),
        ("10.244.1.0/24", RouteFlags.Remote, NodeB),
        ("192.168.1.10/32", RouteFlags.Local | RouteFlags.Node, NodeA),
        ("192.168.1.11/32", RouteFlags.Remote | RouteFlags.Node, NodeB));

    private List<string> _log = null!;
    private ObservedMap<RouteKey4, RouteValue> _map = null!;

    [SetUp]
    public void SetUp()
    {
        _log = [];
        _map = new ObservedMap<RouteKey4, RouteValue>(new InMemoryBpfMap<RouteKey4, RouteValue>("pr_routes4", 16));
        _map.AfterWrite = (key, value) => _log.Add(value is { } v ? $"+{RouteDump.Line(key, v)}" : $"-rt {key}");
    }

    [Test]
    public void Writes_what_is_missing_then_nothing_while_nothing_changes()
    {
        var writer = new RouteWriter(_map);

        var first = writer.Apply(TwoNodes, reread: false);
        var again = writer.Apply(TwoNodes, reread: false);
        var full = writer.Apply(TwoNodes, reread: true);

        Assert.Multiple(() =>
        {
            Assert.That((first.Writes, again.Writes, full.Writes), Is.EqualTo((4, 0, 0)));
            Assert.That(first.Problems.Concat(again.Problems).Concat(full.Problems), Is.Empty);
            Assert.That(RouteDump.Lines(_map.ReadAll()), Is.EqualTo(RouteDump.Lines(TwoNodes)));
            Assert.That(writer.View, Is.EquivalentTo(TwoNodes));
        });
    }

    [Test]
    public void A_change_writes_the_difference_adding_and_changing_before_deleting()
    {
        var writer = new RouteWriter(_map);
        writer.Apply(TwoNodes, reread: false);
        _log.Clear();

        // node B moved to a new address and lost its CIDR to a longer one; node C joined
        var next = Routes(
            ("10.244.0.0/24", RouteFlags.Local, NodeA),
            ("10.244.1.0/25", RouteFlags.Remote, NodeB),
            ("10.244.2.0/24", RouteFlags.Remote, NodeC),
            ("192.168.1.10/32", RouteFlags.Local | RouteFlags.Node, NodeA),
            ("192.168.1.11/32", RouteFlags.Remote | RouteFlags.Node, NodeC),
            ("192.168.1.12/32", RouteFlags.Remote | RouteFlags.Node, NodeC));
        var result = writer.Apply(next, reread: false);

        Assert.Multiple(() =>
        {
            Assert.That(result.Writes, Is.EqualTo(5));
            Assert.That(_log, Is.EqualTo(new[]
            {
                "+rt 10.244.1.0/25 remote via 192.168.1.11",
                "+rt 10.244.2.0/24 remote via 192.168.1.12",
                "+rt 192.168.1.11/32 remote node via 192.168.1.12",
                "+rt 192.168.1.12/32 remote node via 192.168.1.12",
                "-rt 10.244.1.0/24",
            }));
            Assert.That(RouteDump.Lines(_map.ReadAll()), Is.EqualTo(RouteDump.Lines(next)));
        });
    }

    [Test]
    public void A_restarted_writer_adopts_the_pinned_entries_and_writes_only_the_difference()
    {
        new RouteWriter(_map).Apply(TwoNodes, reread: false);
        _map.Inner.Update(Key("10.99.0.0/16"), new RouteValue(RouteFlags.Remote, NodeC));  // stale: no Node claims it any more
        _log.Clear();

        var restarted = new RouteWriter(_map).Apply(TwoNodes, reread: false);

        Assert.Multiple(() =>
        {
            Assert.That(_log, Is.EqualTo(new[] { "-rt 10.99.0.0/16" }), "no flush, no rewrite of equal entries");
            Assert.That(restarted.Writes, Is.EqualTo(1));
        });
    }

    [Test]
    public void Drift_is_repaired_by_a_pass_that_rereads_the_map()
    {
        var writer = new RouteWriter(_map);
        writer.Apply(TwoNodes, reread: false);
        _map.Inner.Delete(Key("10.244.1.0/24"));                                                   // behind its back
        _map.Inner.Update(Key("192.168.1.10/32"), new RouteValue(RouteFlags.Remote, NodeB));       // scribbled over
        _log.Clear();

        var trusting = writer.Apply(TwoNodes, reread: false);
        var rereading = writer.Apply(TwoNodes, reread: true);

        Assert.Multiple(() =>
        {
            Assert.That(trusting.Writes, Is.Zero, "an ordinary pass trusts its view");
            Assert.That(rereading.Writes, Is.EqualTo(2));
            Assert.That(RouteDump.Lines(_map.ReadAll()), Is.EqualTo(RouteDump.Lines(TwoNodes)));
        });
    }

    [Test]
    public void A_failed_write_is_reported_the_rest_proceed_and_the_next_pass_retries_it()
    {
        var writer = new RouteWriter(_map);
        writer.Apply(Routes(("10.99.0.0/16", RouteFlags.Remote, NodeC)), reread: false);
        _map.FailWrite = key => key == Key("10.244.1.0/24");
        _log.Clear();

        var failed = writer.Apply(TwoNodes, reread: false);

        var problem = failed.Problems.Single();
        Assert.Multiple(() =>
        {
            Assert.That(problem.Kind, Is.EqualTo(SyncProblemKind.WriteFailed));
            Assert.That(problem.Error, Is.InstanceOf<BpfMapFullException>());
            Assert.That(problem.Reason, Does.StartWith("pr_routes4: writing 10.244.1.0/24: "));
            Assert.That(failed.Writes, Is.EqualTo(4), "three adds and the delete of the stale entry");
            Assert.That(_map.TryLookup(Key("10.244.1.0/24"), out _), Is.False);
            Assert.That(writer.View.ContainsKey(Key("10.244.1.0/24")), Is.False, "a failed write is not in the view");
        });

        _map.FailWrite = null;
        _log.Clear();
        var retried = writer.Apply(TwoNodes, reread: false);

        Assert.Multiple(() =>
        {
            Assert.That(retried.Problems, Is.Empty);
            Assert.That(_log, Is.EqualTo(new[] { "+rt 10.244.1.0/24 remote via 192.168.1.11" }));
            Assert.That(RouteDump.Lines(_map.ReadAll()), Is.EqualTo(RouteDump.Lines(TwoNodes)));
        });
    }

    [Test]
    public void A_failed_delete_stays_in_the_view_and_is_retried()
    {
        var writer = new RouteWriter(_map);
        writer.Apply(TwoNodes, reread: false);
        var smaller = Routes(("10.244.0.0/24", RouteFlags.Local, NodeA), ("192.168.1.10/32", RouteFlags.Local | RouteFlags.Node, NodeA));
        _map.FailWrite = key => key == Key("192.168.1.11/32");

        var failed = writer.Apply(smaller, reread: false);
        _map.FailWrite = null;
        var retried = writer.Apply(smaller, reread: false);

        Assert.Multiple(() =>
        {
            Assert.That(failed.Problems.Select(p => p.Reason), Has.One.StartsWith("pr_routes4: deleting 192.168.1.11/32: "));
            Assert.That(failed.Writes, Is.EqualTo(1));
            Assert.That(retried.Writes, Is.EqualTo(1));
            Assert.That(RouteDump.Lines(_map.ReadAll()), Is.EqualTo(RouteDump.Lines(smaller)));
        });
    }

    [Test]
    public void A_map_that_cannot_be_read_is_reported_and_left_alone()
    {
        var writer = new RouteWriter(new UnreadableMap());

        var result = writer.Apply(TwoNodes, reread: false);

        Assert.Multiple(() =>
        {
            Assert.That(result.Writes, Is.Zero);
            Assert.That(result.Problems.Single().ToString(), Is.EqualTo("WriteFailed: reading pr_routes4: injected read failure"));
        });
    }

    private sealed class UnreadableMap : IBpfMap<RouteKey4, RouteValue>
    {
        public string Name => "pr_routes4";
        public int MaxEntries => 16;
        public bool TryLookup(in RouteKey4 key, out RouteValue value) => throw new InvalidOperationException("not expected");
        public void Update(in RouteKey4 key, in RouteValue value, MapUpdateMode mode = MapUpdateMode.Any) => throw new InvalidOperationException("not expected");
        public bool Delete(in RouteKey4 key) => throw new InvalidOperationException("not expected");
        public IReadOnlyList<KeyValuePair<RouteKey4, RouteValue>> ReadAll() => throw new BpfException("injected read failure", 0);
    }
}
