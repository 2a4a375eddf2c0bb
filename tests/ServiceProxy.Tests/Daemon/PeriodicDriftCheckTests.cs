using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Tests.Support;
using ProxyReplacement.ServiceProxy.Tracking;
using static ProxyReplacement.ServiceProxy.Tests.Support.Objects;

namespace ProxyReplacement.ServiceProxy.Tests.Daemon;

/// <summary>
/// The periodic resync as a check beside the sync loop (<see cref="PeriodicDriftCheck"/>): a check runs off the calling
/// thread and triggers a run when it ends; its verdict asks for a full resync only for drift (or a failed check), an
/// overtaken check is dropped, a last sync that was not clean asks for a full resync at once, and the maps are never
/// left unverified for more than two periods.
/// </summary>
public sealed class PeriodicDriftCheckTests
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(30);

    private sealed class Rig
    {
        public readonly NatMapsUnderTest Maps = new();
        public readonly ChangeTracker Tracker = new();
        public readonly Syncer Syncer;
        public readonly DriftCheckCounters Counters = new();
        public readonly FakeTimeProvider Time = new(new DateTimeOffset(2026, 12, 6, 0, 0, 0, TimeSpan.Zero));
        public readonly SemaphoreSlim Triggered = new(0);
        public readonly PeriodicDriftCheck Drift;
        public int BesideRuns;

        public Rig()
        {
            Syncer = new Syncer(Maps.Frontends, Maps.Backends, names: Maps.Names);
            Tracker.ReplaceAll([Service("a", "10.96.0.1"), Service("b", "10.96.0.2")], [Slice("a-1", "a", "10.244.0.1"), Slice("b-1", "b", "10.244.0.2")]);
            Syncer.Sync(Tracker.Commit(), fullResync: true);
            Drift = new PeriodicDriftCheck(Syncer, () => Triggered.Release(), Period, Counters, NullLogger<PeriodicDriftCheck>.Instance,
                beside: () => Interlocked.Increment(ref BesideRuns), time: Time);
        }

        /// <summary>Starts a check and waits for the trigger its end sends.</summary>
        public void CheckAndWait()
        {
            Drift.Start();
            Assert.That(Triggered.Wait(TimeSpan.FromSeconds(10)), Is.True, "the end of a check triggers a run");
        }
    }

    [Test]
    public void A_clean_check_asks_for_nothing_and_counts_as_clean()
    {
        var rig = new Rig();
        rig.CheckAndWait();
        Assert.Multiple(() =>
        {
            Assert.That(rig.Drift.TakeVerdict(), Is.EqualTo(DriftVerdict.None));
            Assert.That(rig.Counters.Clean.Value, Is.EqualTo(1));
            Assert.That(rig.Counters.Drift.Value + rig.Counters.Superseded.Value + rig.Counters.Failed.Value, Is.Zero);
            Assert.That(rig.BesideRuns, Is.EqualTo(1), "the map-fill count runs beside the check");
            Assert.That(rig.Drift.Running, Is.False);
            Assert.That(rig.Drift.TakeCheckAllocation(), Is.GreaterThan(0), "what the check allocated goes to the heap reclaim's reckoning");
            Assert.That(rig.Drift.TakeCheckAllocation(), Is.Zero, "once");
        });
    }

    [Test]
    public void Drift_asks_for_a_full_resync_until_one_is_done()
    {
        var rig = new Rig();
        var (key, _) = rig.Maps.Backends.ReadAll().First();
        rig.Maps.Backends.Inner.Update(key, new NatBackendValue4(IPAddress.Parse("10.244.9.9"), 8080));
        rig.CheckAndWait();
        Assert.Multiple(() =>
        {
            Assert.That(rig.Drift.TakeVerdict(), Is.EqualTo(DriftVerdict.Repair));
            Assert.That(rig.Drift.TakeVerdict(), Is.EqualTo(DriftVerdict.Repair), "owed until a full resync is done");
            Assert.That(rig.Counters.Drift.Value, Is.EqualTo(1));
        });
        rig.Drift.FullResyncDone();
        Assert.That(rig.Drift.TakeVerdict(), Is.EqualTo(DriftVerdict.None));
    }

    [Test]
    public void A_check_overtaken_by_a_sync_that_wrote_is_dropped()
    {
        var rig = new Rig();
        var (key, _) = rig.Maps.Backends.ReadAll().First();
        rig.Maps.Backends.Inner.Update(key, new NatBackendValue4(IPAddress.Parse("10.244.9.9"), 8080)); // drift it would report
        rig.CheckAndWait();
        rig.Tracker.UpsertEndpointSlice(Slice("b-1", "b", "10.244.0.2", "10.244.0.3"));
        Assert.That(rig.Syncer.Sync(rig.Tracker.Commit(), fullResync: false).Applied, Is.Not.Empty);
        Assert.Multiple(() =>
        {
            Assert.That(rig.Drift.TakeVerdict(), Is.EqualTo(DriftVerdict.None), "its report no longer describes the maps");
            Assert.That(rig.Counters.Superseded.Value, Is.EqualTo(1));
            Assert.That(rig.Counters.Drift.Value, Is.Zero);
        });
    }

    [Test]
    public void After_a_sync_that_was_not_clean_a_full_resync_is_asked_for_at_once()
    {
        var rig = new Rig();
        rig.Maps.Backends.FailWrite = _ => true;
        rig.Tracker.UpsertEndpointSlice(Slice("a-1", "a", "10.244.0.1", "10.244.0.5"));
        Assert.That(rig.Syncer.Sync(rig.Tracker.Commit(), fullResync: false).Problems, Is.Not.Empty);

        rig.Drift.Start();
        Assert.Multiple(() =>
        {
            Assert.That(rig.Triggered.CurrentCount, Is.EqualTo(1), "a run is triggered");
            Assert.That(rig.Drift.Running, Is.False, "no check: there is nothing clean to check against");
            Assert.That(rig.Drift.TakeVerdict(), Is.EqualTo(DriftVerdict.Repair));
        });
    }

    [Test]
    public void The_maps_are_never_left_unverified_for_more_than_two_periods()
    {
        var rig = new Rig();
        Assert.That(rig.Drift.MayCheck, Is.True);
        rig.Time.Advance(2 * Period);
        Assert.That(rig.Drift.MayCheck, Is.True, "two periods is still within bounds");
        rig.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(rig.Drift.MayCheck, Is.False, "then the periodic run must be a full resync on the sync thread");

        rig.CheckAndWait();
        rig.Drift.TakeVerdict();
        Assert.That(rig.Drift.MayCheck, Is.True, "a clean check counts as verified");
        rig.Time.Advance(3 * Period);
        rig.Drift.FullResyncDone();
        Assert.That(rig.Drift.MayCheck, Is.True, "so does a full resync");
    }
}
