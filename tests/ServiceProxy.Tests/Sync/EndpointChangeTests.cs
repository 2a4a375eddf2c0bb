using System.Net;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Tests.Support;
using ProxyReplacement.ServiceProxy.Tracking;
using static ProxyReplacement.ServiceProxy.Tests.Support.Objects;

namespace ProxyReplacement.ServiceProxy.Tests.Sync;

/// <summary>
/// The incremental fast path (a tracker commit synced with only its changed Services rebuilt) must write exactly
/// what a full rebuild writes, and the incremental snapshot must equal one made from scratch.
/// </summary>
public sealed class EndpointChangeTests
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
            Assert.That(EndpointChangeBuilder.TryBuild(commit.Previous, commit.Snapshot, commit.ChangedServices, fastSyncer.Ids,
                NatMapContents.Read(fast.Frontends, fast.Backends)), Is.Not.Null, $"step {step}: an endpoint-only change takes the fast path");
            fast.ClearLog();
            reference.ClearLog();
            var fastResult = fastSyncer.Sync(commit, fullResync: false);
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
        var expected = new NatMapsUnderTest();
        new Syncer(expected.Frontends, expected.Backends).Sync(second.Snapshot);
        Assert.That(maps.Dump(), Is.EqualTo(expected.Dump()));
    }

    [Test]
    public void An_edited_Service_takes_the_full_path_and_lands_where_a_rebuild_does()
    {
        var maps = new NatMapsUnderTest();
        var syncer = new Syncer(maps.Frontends, maps.Backends);
        var tracker = new ChangeTracker();
        tracker.ReplaceAll([Service("a", "10.96.0.1")], [Slice("a-1", "a", "10.244.0.1")]);
        syncer.Sync(tracker.Commit(), fullResync: true);

        tracker.UpsertService(Service("a", "10.96.0.1", port: 81));
        tracker.UpsertEndpointSlice(Slice("a-1", "a", "10.244.0.1", "10.244.0.5"));
        var commit = tracker.Commit();
        Assert.That(EndpointChangeBuilder.TryBuild(commit.Previous, commit.Snapshot, commit.ChangedServices, syncer.Ids,
            NatMapContents.Read(maps.Frontends, maps.Backends)), Is.Null);
        syncer.Sync(commit, fullResync: false);
        var expected = new NatMapsUnderTest();
        new Syncer(expected.Frontends, expected.Backends).Sync(commit.Snapshot);
        Assert.That(maps.Dump(), Is.EqualTo(expected.Dump()));
    }
}
