using System.Net;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Tests.Support;
using ProxyReplacement.ServiceProxy.Tracking;
using static ProxyReplacement.ServiceProxy.Tests.Support.Objects;

namespace ProxyReplacement.ServiceProxy.Tests.Sync;

/// <summary>
/// The incremental path (a tracker commit synced with only its changed Services rebuilt, <see cref="ServiceChangeBuilder"/>)
/// must write exactly what a full rebuild writes, and the incremental snapshot must equal one made from scratch. The
/// random oracle over every kind of change is <see cref="Properties.IncrementalSyncProperties"/>.
/// </summary>
public sealed class IncrementalSyncTests
{
    private static readonly string[] Names = ["a", "b", "c", "d", "e"];

    [Test]
    public void Random_endpoint_changes_write_the_same_as_a_full_rebuild_and_keep_make_before_break()
    {
        var random = new Random(6);
        var fast = new NatMapsUnderTest();
        var reference = new NatMapsUnderTest();
        var fastSyncer = new Syncer(fast.Frontends, fast.Backends);
        var referenceSyncer = new Syncer(reference.Frontends, reference.Backends);
        var tracker = new ChangeTracker();
        tracker.ReplaceAll(Names.Select((name, i) => Service(name, $"10.96.0.{i + 1}")), Names.Select(name => Slice(name + "-1", name, "10.244.0.1")));
        var first = tracker.Commit();
        fastSyncer.Sync(first, fullResync: true);
        referenceSyncer.Sync(first.Snapshot);

        var stepsWithWrites = 0;
        for (var step = 0; step < 300; step++)
        {
            // 1-2 Services get a new random set of 0..5 ready endpoints out of 8 addresses, in one or two slices
            for (var k = 0; k < 1 + random.Next(2); k++)
            {
                var name = Names[random.Next(Names.Length)];
                var addresses = Enumerable.Range(1, 8).Where(_ => random.Next(3) == 0).Take(5).Select(i => $"10.244.{i % 2}.{i}").ToArray();
                tracker.UpsertEndpointSlice(Slice(name + "-1", name, addresses.Where((_, i) => i % 2 == 0).ToArray()));
                if (random.Next(2) == 0)
                    tracker.UpsertEndpointSlice(Slice(name + "-2", name, addresses.Where((_, i) => i % 2 == 1).ToArray()));
                else
                    tracker.DeleteEndpointSlice(new ObjectKey("default", name + "-2"));
            }
            var commit = tracker.Commit();
            Assert.That(commit.Snapshot.SlicesByService, Is.EqualTo(ServiceSnapshot.Create(commit.Snapshot.Services.Values,
                commit.Snapshot.SlicesByService.Values.SelectMany(slices => slices)).SlicesByService), $"step {step}: incremental snapshot");
            fast.ClearLog();
            reference.ClearLog();
            var fastResult = fastSyncer.Sync(commit, fullResync: false);
            Assert.That(fastSyncer.LastPath.Incremental, Is.True, $"step {step}: an endpoint-only change takes the incremental path");
            var referenceResult = referenceSyncer.Sync(commit.Snapshot, fullResync: false);
            Assert.Multiple(() =>
            {
                Assert.That(fastResult.Applied.Select(w => w.ToString()), Is.EqualTo(referenceResult.Applied.Select(w => w.ToString())), $"step {step}: writes");
                Assert.That(fast.Dump(), Is.EqualTo(reference.Dump()), $"step {step}: maps");
                Assert.That(fast.Violations, Is.Empty);
                Assert.That(fastResult.Problems, Is.Empty);
            });
            if (fastResult.Applied.Count > 0)
                stepsWithWrites++;
        }
        Assert.That(stepsWithWrites, Is.GreaterThan(100), "most random changes must write something, or the comparison proves little");
    }

    [Test]
    public void A_commit_that_does_not_follow_the_last_synced_snapshot_is_rebuilt_in_full()
    {
        var maps = new NatMapsUnderTest();
        var syncer = new Syncer(maps.Frontends, maps.Backends);
        var tracker = new ChangeTracker();
        tracker.ReplaceAll([Service("a", "10.96.0.1"), Service("b", "10.96.0.2")], [Slice("a-1", "a", "10.244.0.1"), Slice("b-1", "b", "10.244.0.2")]);
        syncer.Sync(tracker.Commit(), fullResync: true);

        // Two commits, only the second synced: its changed set alone would miss Service a.
        tracker.UpsertEndpointSlice(Slice("a-1", "a", "10.244.0.1", "10.244.0.3"));
        tracker.Commit();
        tracker.UpsertEndpointSlice(Slice("b-1", "b", "10.244.0.2", "10.244.0.4"));
        var second = tracker.Commit();
        Assert.That(second.ChangedServices, Is.EquivalentTo(new[] { new ObjectKey("default", "b") }));

        syncer.Sync(second, fullResync: false);
        Assert.That(syncer.LastPath.Reason, Is.EqualTo(RebuildReason.NotOnTopOfLastSync));
        var expected = new NatMapsUnderTest();
        new Syncer(expected.Frontends, expected.Backends).Sync(second.Snapshot);
        Assert.That(maps.Dump(), Is.EqualTo(expected.Dump()));
    }

    [Test]
    public void An_edited_Service_takes_the_incremental_path_and_lands_where_a_rebuild_does()
    {
        var maps = new NatMapsUnderTest();
        var syncer = new Syncer(maps.Frontends, maps.Backends);
        var tracker = new ChangeTracker();
        tracker.ReplaceAll([Service("a", "10.96.0.1"), Service("b", "10.96.0.2")], [Slice("a-1", "a", "10.244.0.1"), Slice("b-1", "b", "10.244.0.2")]);
        syncer.Sync(tracker.Commit(), fullResync: true);

        tracker.UpsertService(Service("a", "10.96.0.1", port: 81));
        tracker.UpsertEndpointSlice(Slice("a-1", "a", "10.244.0.1", "10.244.0.5"));
        var commit = tracker.Commit();
        maps.ClearLog();
        var result = syncer.Sync(commit, fullResync: false);

        Assert.Multiple(() =>
        {
            Assert.That(syncer.LastPath.Incremental, Is.True, syncer.LastPath.ToString());
            // The port number changed, not the service port: the id and the first backend stay, the frontend moves.
            Assert.That(result.Applied.Select(write => write.ToString()), Is.EqualTo(new[]
            {
                "+be svc=1 #1 10.244.0.5:8080",
                "+fe 10.96.0.1:81/tcp svc=1 count=2 flags=0 affinity=0s",
                "-fe 10.96.0.1:80/tcp",
            }));
            Assert.That(maps.Violations, Is.Empty);
        });
        var expected = new NatMapsUnderTest();
        new Syncer(expected.Frontends, expected.Backends).Sync(commit.Snapshot);
        Assert.That(maps.Dump(), Is.EqualTo(expected.Dump()));
    }

    [Test]
    public void A_Service_added_and_one_deleted_write_only_their_own_entries_new_ids_skipping_the_released_one()
    {
        var maps = new NatMapsUnderTest();
        var syncer = maps.NewSyncer();
        var tracker = new ChangeTracker();
        tracker.ReplaceAll([Service("a", "10.96.0.1"), Service("b", "10.96.0.2")], [Slice("a-1", "a", "10.244.0.1"), Slice("b-1", "b", "10.244.0.2")]);
        syncer.Sync(tracker.Commit(), fullResync: true);

        // c takes over b's ClusterIP in the same commit that deletes b: b's entries go after c's are in.
        tracker.DeleteService(new ObjectKey("default", "b"));
        tracker.UpsertService(Service("c", "10.96.0.2"));
        tracker.UpsertEndpointSlice(Slice("c-1", "c", "10.244.0.3", "10.244.0.4"));
        maps.ClearLog();
        var result = syncer.Sync(tracker.Commit(), fullResync: false);

        Assert.Multiple(() =>
        {
            Assert.That(syncer.LastPath.Incremental, Is.True, syncer.LastPath.ToString());
            Assert.That(result.Problems, Is.Empty);
            Assert.That(maps.WriteLog, Is.EqualTo(new[]
            {
                "+be svc=3 #0 10.244.0.3:8080",
                "+be svc=3 #1 10.244.0.4:8080",
                "+fe 10.96.0.2:80/tcp svc=3 count=2 flags=0 affinity=0s",
                "-be svc=2 #0",
            }));
            Assert.That(maps.Names.ReadAll().Select(pair => $"{pair.Key} {pair.Value}").Order(StringComparer.Ordinal),
                Is.EqualTo(new[] { "1 default/a:<unnamed>/tcp", "3 default/c:<unnamed>/tcp" }));
            Assert.That(maps.Violations, Is.Empty);
        });
    }

    [Test]
    public void A_change_that_touches_a_contested_frontend_rebuilds_and_one_beside_a_standing_conflict_does_not()
    {
        var maps = new NatMapsUnderTest();
        var syncer = maps.NewSyncer();
        var reference = new NatMapsUnderTest();
        var rebuilder = reference.NewSyncer();
        var tracker = new ChangeTracker();
        tracker.ReplaceAll([Service("a", "10.96.0.1"), Service("b", "10.96.0.2"), Service("c", "10.96.0.3")],
            [Slice("a-1", "a", "10.244.0.1"), Slice("b-1", "b", "10.244.0.2"), Slice("c-1", "c", "10.244.0.3")]);
        Sync(tracker.Commit(), fullResync: true);

        // b claims a's VIP:port: b loses it (a comes first), a conflict the rebuild decides.
        tracker.UpsertService(WithExternalIp(Service("b", "10.96.0.2"), "10.96.0.1"));
        var claimed = Sync(tracker.Commit());
        Assert.That(syncer.LastPath.Reason, Is.EqualTo(RebuildReason.ContestedFrontend));
        Assert.That(claimed.Problems.Select(problem => problem.Kind), Is.EqualTo(new[] { SyncProblemKind.Conflict }));

        // c changes beside the standing conflict: incremental, and the conflict is still reported, as a rebuild does.
        tracker.UpsertService(Service("c", "10.96.0.3", port: 8443));
        var beside = Sync(tracker.Commit());
        Assert.That(syncer.LastPath.Incremental, Is.True, syncer.LastPath.ToString());
        Assert.That(beside.Problems.Select(problem => problem.ToString()), Is.EqualTo(claimed.Problems.Select(problem => problem.ToString())));

        // a's endpoints change: a holds the contested key, its frontend is unchanged: incremental too.
        tracker.UpsertEndpointSlice(Slice("a-1", "a", "10.244.0.1", "10.244.0.9"));
        Sync(tracker.Commit());
        Assert.That(syncer.LastPath.Incremental, Is.True, syncer.LastPath.ToString());

        // a is deleted: b wins the key now, which only a rebuild can tell.
        tracker.DeleteService(new ObjectKey("default", "a"));
        var released = Sync(tracker.Commit());
        Assert.That(syncer.LastPath.Reason, Is.EqualTo(RebuildReason.ContestedFrontend));
        Assert.That(released.Problems, Is.Empty);
        Assert.That(syncer.Rebuilds(RebuildReason.ContestedFrontend), Is.EqualTo(2));

        SyncResult Sync(TrackerCommit commit, bool fullResync = false)
        {
            maps.ClearLog();
            reference.ClearLog();
            var result = syncer.Sync(commit, fullResync);
            var expected = rebuilder.Sync(commit.Snapshot, fullResync);
            Assert.Multiple(() =>
            {
                Assert.That(result.Applied.Select(write => write.ToString()), Is.EqualTo(expected.Applied.Select(write => write.ToString())));
                Assert.That(result.Problems.Select(problem => problem.ToString()), Is.EqualTo(expected.Problems.Select(problem => problem.ToString())));
                Assert.That(maps.Dump(), Is.EqualTo(reference.Dump()));
                Assert.That(maps.Violations, Is.Empty);
            });
            return result;
        }
    }

    [Test]
    public void A_new_frontend_context_rebuilds()
    {
        var maps = new NatMapsUnderTest();
        var syncer = maps.NewSyncer();
        var tracker = new ChangeTracker();
        tracker.ReplaceAll([Service("a", "10.96.0.1")], [Slice("a-1", "a", "10.244.0.1")]);
        syncer.Sync(tracker.Commit(), fullResync: true);
        Assert.That(syncer.LastPath.Reason, Is.EqualTo(RebuildReason.FullResync));

        syncer.Context = FrontendContext.None with { NodePortAddresses = EquatableList.From(IPAddress.Parse("192.168.1.10")) };
        tracker.UpsertService(Service("b", "10.96.0.2"));
        syncer.Sync(tracker.Commit(), fullResync: false);
        Assert.That(syncer.LastPath.Reason, Is.EqualTo(RebuildReason.ContextChanged));

        tracker.UpsertService(Service("c", "10.96.0.3"));
        syncer.Sync(tracker.Commit(), fullResync: false);
        Assert.That(syncer.LastPath.Incremental, Is.True);
        Assert.That((syncer.IncrementalSyncs, syncer.Rebuilds(RebuildReason.FullResync), syncer.Rebuilds(RebuildReason.ContextChanged)), Is.EqualTo((1L, 1L, 1L)));
    }

    private static Service WithExternalIp(Service service, string ip) => service with { ExternalIPs = EquatableList.From(IPAddress.Parse(ip)) };
}
