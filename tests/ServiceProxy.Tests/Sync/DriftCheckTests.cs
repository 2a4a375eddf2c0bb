using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Tests.Support;
using ProxyReplacement.ServiceProxy.Tracking;
using static ProxyReplacement.ServiceProxy.Tests.Support.Objects;

namespace ProxyReplacement.ServiceProxy.Tests.Sync;

/// <summary>
/// The periodic resync's drift check (<see cref="DriftCheck"/>): it must find every entry that differs from what the last
/// clean sync wrote, in the NAT maps and the side maps, write nothing, leave the live ids alone, and say when a later
/// sync has overtaken it.
/// </summary>
public sealed class DriftCheckTests
{
    private static (NatMapsUnderTest Maps, Syncer Syncer, ChangeTracker Tracker) Programmed()
    {
        var maps = new NatMapsUnderTest();
        var syncer = new Syncer(maps.Frontends, maps.Backends, sourceRanges: maps.SourceRanges, names: maps.Names);
        var tracker = new ChangeTracker();
        tracker.ReplaceAll([Service("a", "10.96.0.1"), Service("b", "10.96.0.2"), Service("c", "10.96.0.3")],
            [Slice("a-1", "a", "10.244.0.1", "10.244.0.2"), Slice("b-1", "b", "10.244.0.3"), Slice("c-1", "c", "10.244.0.4", "10.244.0.5")]);
        Assert.That(syncer.Sync(tracker.Commit(), fullResync: true).Problems, Is.Empty);
        return (maps, syncer, tracker);
    }

    [Test]
    public void Maps_as_the_last_sync_left_them_show_no_drift_and_the_check_writes_nothing()
    {
        var (maps, syncer, tracker) = Programmed();
        tracker.UpsertEndpointSlice(Slice("b-1", "b", "10.244.0.3", "10.244.0.6")); // an incremental sync on top
        syncer.Sync(tracker.Commit(), fullResync: false);
        Assert.That(syncer.LastPath.Incremental, Is.True);
        var ids = syncer.Ids.Assignments.ToDictionary();
        maps.ClearLog();

        var check = syncer.StartDriftCheck();
        Assert.That(check, Is.Not.Null, "a clean sync can be checked");
        var report = check!.Run();

        Assert.Multiple(() =>
        {
            Assert.That(report.Drifted, Is.False, $"{report}");
            Assert.That(report.Services, Is.EqualTo(3));
            Assert.That(maps.WriteLog, Is.Empty, "a check never writes");
            Assert.That(syncer.Ids.Assignments, Is.EqualTo(ids), "a check leaves the live ids alone");
            Assert.That(syncer.IsCurrent(check), Is.True);
        });
    }

    [Test]
    public void An_entry_changed_or_removed_behind_the_syncers_back_is_drift_and_a_full_resync_repairs_it()
    {
        var (maps, syncer, _) = Programmed();
        var (backendKey, backend) = maps.Backends.ReadAll().First();
        maps.Backends.Inner.Update(backendKey, new NatBackendValue4(IPAddress.Parse("10.244.9.9"), 8080)); // changed
        var frontendKey = maps.Frontends.ReadAll().Last().Key;
        maps.Frontends.Inner.Delete(frontendKey); // removed
        maps.Names.Delete(maps.Names.ReadAll().First().Key); // a side map entry removed

        var report = syncer.StartDriftCheck()!.Run();
        Assert.Multiple(() =>
        {
            Assert.That(report.Drifted, Is.True);
            Assert.That(report.NatDifferences, Is.EqualTo(2), "the changed backend and the removed frontend");
            Assert.That(report.SideDifferences, Is.EqualTo(1), "the removed name");
        });

        var tracker = new ChangeTracker();
        tracker.ReplaceAll([Service("a", "10.96.0.1"), Service("b", "10.96.0.2"), Service("c", "10.96.0.3")],
            [Slice("a-1", "a", "10.244.0.1", "10.244.0.2"), Slice("b-1", "b", "10.244.0.3"), Slice("c-1", "c", "10.244.0.4", "10.244.0.5")]);
        syncer.Sync(tracker.Commit().Snapshot, fullResync: true);
        Assert.Multiple(() =>
        {
            Assert.That(maps.Backends.ReadAll().Single(entry => entry.Key == backendKey).Value, Is.EqualTo(backend), "repaired");
            Assert.That(syncer.StartDriftCheck()!.Run().Drifted, Is.False, "nothing left after the full resync");
        });
    }

    [Test]
    public void A_sync_that_writes_after_the_check_was_made_overtakes_it_and_one_that_writes_nothing_does_not()
    {
        var (_, syncer, tracker) = Programmed();
        var check = syncer.StartDriftCheck()!;

        syncer.Sync(tracker.Commit(), fullResync: false); // nothing changed: nothing written
        Assert.That(syncer.IsCurrent(check), Is.True, "a sync without writes leaves the maps as the check sees them");

        tracker.UpsertEndpointSlice(Slice("a-1", "a", "10.244.0.1"));
        Assert.That(syncer.Sync(tracker.Commit(), fullResync: false).Applied, Is.Not.Empty);
        Assert.That(syncer.IsCurrent(check), Is.False, "after a write the check's snapshot is no longer what the maps should hold");
        Assert.That(syncer.IsCurrent(syncer.StartDriftCheck()!), Is.True, "a check made after it is current");
    }

    [Test]
    public void After_a_sync_with_a_failed_write_there_is_nothing_to_check_against()
    {
        var (maps, syncer, tracker) = Programmed();
        maps.Backends.FailWrite = _ => true;
        tracker.UpsertEndpointSlice(Slice("a-1", "a", "10.244.0.1", "10.244.0.7"));
        Assert.That(syncer.Sync(tracker.Commit(), fullResync: false).Problems, Is.Not.Empty);
        Assert.That(syncer.StartDriftCheck(), Is.Null, "the maps are not what the snapshot asks for: only a full resync will do");
    }
}
