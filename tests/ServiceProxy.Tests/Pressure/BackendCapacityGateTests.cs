using Microsoft.Extensions.Logging.Abstractions;
using ProxyReplacement.ServiceProxy.Conntrack;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Pressure;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Tests.Support;
using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.ServiceProxy.Tests.Pressure;

/// <summary>
/// A Service whose backends do not fit the backend map is programmed all or nothing: the gate in front of a real
/// Syncer on small in-memory maps, checked after every write for make before break and for partial Services.
/// </summary>
public sealed class BackendCapacityGateTests
{
    private const int Capacity = 10;

    private static string[] Pods(int first, int count) => Enumerable.Range(first, count).Select(i => $"10.244.{i / 200}.{i % 200 + 1}").ToArray();

    private sealed class Rig
    {
        public readonly NatMapsUnderTest Maps = new(maxBackends: Capacity);
        public readonly ChangeTracker Tracker = new();
        public readonly BackendCapacityGate Gate = new(Capacity);
        public readonly Syncer Syncer;

        public Rig() => Syncer = new Syncer(Maps.Frontends, Maps.Backends);

        public SyncResult Sync(bool full = false) => Syncer.Sync(Gate.Gate(Tracker.Commit()), full);

        /// <summary>How many backends the frontend of each Service VIP counts.</summary>
        public Dictionary<string, uint> Counts() =>
            Maps.Frontends.Inner.ReadAll().ToDictionary(e => e.Key.Vip.ToString(), e => e.Value.BackendCount);
    }

    [Test]
    public void A_new_service_that_does_not_fit_is_not_programmed_at_all_and_the_others_are()
    {
        var rig = new Rig();
        rig.Tracker.UpsertService(Objects.Service("small", "10.96.0.1"));
        rig.Tracker.UpsertEndpointSlice(Objects.Slice("small-1", "small", Pods(0, 4)));
        rig.Tracker.UpsertService(Objects.Service("huge", "10.96.0.2"));
        rig.Tracker.UpsertEndpointSlice(Objects.Slice("huge-1", "huge", Pods(100, 8)));

        var result = rig.Sync(full: true);

        Assert.Multiple(() =>
        {
            Assert.That(result.Problems, Is.Empty, "no write failed: nothing was tried halfway");
            Assert.That(rig.Counts(), Is.EqualTo(new Dictionary<string, uint> { ["10.96.0.1"] = 4 }));
            Assert.That(rig.Gate.Held.Select(h => (h.Service.ToString(), h.Needed, h.Free, h.OlderVersionKept)),
                Is.EqualTo(new[] { ("default/huge", 8, 6, false) }));
            Assert.That(rig.Maps.Violations, Is.Empty);
        });
    }

    [Test]
    public void A_service_that_outgrows_the_map_keeps_its_previous_version_until_room_is_made()
    {
        var rig = new Rig();
        rig.Tracker.UpsertService(Objects.Service("a", "10.96.0.1"));
        rig.Tracker.UpsertEndpointSlice(Objects.Slice("a-1", "a", Pods(0, 3)));
        rig.Tracker.UpsertService(Objects.Service("b", "10.96.0.2"));
        rig.Tracker.UpsertEndpointSlice(Objects.Slice("b-1", "b", Pods(100, 4)));
        rig.Sync(full: true);
        var before = rig.Maps.Dump();
        rig.Maps.ClearLog();

        rig.Tracker.UpsertEndpointSlice(Objects.Slice("b-1", "b", Pods(100, 9))); // 3 + 9 > 10
        var grown = rig.Sync();
        var whileHeld = rig.Maps.Dump();

        rig.Tracker.UpsertEndpointSlice(Objects.Slice("a-1", "a", Pods(0, 1))); // 1 + 9 fits, once a's old entries are gone
        var shrunk = rig.Sync();
        var next = rig.Sync();

        Assert.Multiple(() =>
        {
            Assert.That(grown.Problems, Is.Empty);
            Assert.That(whileHeld, Is.EqualTo(before), "b stays at its 4 backends, a untouched");
            Assert.That(shrunk.Problems, Is.Empty);
            Assert.That(rig.Counts(), Is.EqualTo(new Dictionary<string, uint> { ["10.96.0.1"] = 1, ["10.96.0.2"] = 9 }),
                "after a shrank, b is admitted whole (in the sync after, as a's entries are deleted within the first)");
            Assert.That(rig.Gate.Held, Is.Empty);
            Assert.That(next.Problems, Is.Empty);
            Assert.That(rig.Maps.Violations, Is.Empty);
            Assert.That(rig.Maps.WriteLog.Where(w => w.StartsWith("+fe", StringComparison.Ordinal) && w.Contains("10.96.0.2")).ToList(),
                Has.All.Contains("count=9").Or.Empty, "b's frontend never counted a partial set of the 9");
        });
    }

    [Test]
    public void Without_the_gate_the_same_change_programs_the_service_halfway()
    {
        // The premise of the gate: the Syncer alone writes the backends that fit and holds the frontend count at them.
        var maps = new NatMapsUnderTest(maxBackends: Capacity);
        var tracker = new ChangeTracker();
        var syncer = new Syncer(maps.Frontends, maps.Backends);
        tracker.UpsertService(Objects.Service("huge", "10.96.0.2"));
        tracker.UpsertEndpointSlice(Objects.Slice("huge-1", "huge", Pods(100, 12)));
        var result = syncer.Sync(tracker.Commit(), fullResync: true);
        Assert.That(result.Problems, Is.Not.Empty);
    }

    [Test]
    public void A_deleted_held_service_is_forgotten()
    {
        var rig = new Rig();
        rig.Tracker.UpsertService(Objects.Service("huge", "10.96.0.2"));
        rig.Tracker.UpsertEndpointSlice(Objects.Slice("huge-1", "huge", Pods(100, 12)));
        rig.Sync(full: true);
        rig.Tracker.DeleteService(new ObjectKey("default", "huge"));
        rig.Sync();
        Assert.Multiple(() =>
        {
            Assert.That(rig.Gate.Held, Is.Empty);
            Assert.That(rig.Gate.AdmittedTotal, Is.Zero);
        });
    }

    [Test]
    public void Need_counts_distinct_ready_backends_per_port()
    {
        var service = Objects.Service("a", "10.96.0.1");
        var slices = System.Collections.Immutable.ImmutableArray.Create(Objects.Slice("a-1", "a", "10.244.0.1", "10.244.0.2"), Objects.Slice("a-2", "a", "10.244.0.2"));
        Assert.That(BackendCapacityGate.Need(service, slices), Is.EqualTo(2));
    }
}
