using ProxyReplacement.ServiceProxy.Daemon;

namespace ProxyReplacement.ServiceProxy.Tests.Daemon;

public sealed class HeapReclaimerTests
{
    [Test]
    public void TheFirstSyncIsABurstEvenWithoutWrites()
    {
        // A restart adopts the pinned maps and writes nothing, but it has just parsed every object.
        var reclaimer = new HeapReclaimer(largeSyncWrites: 100);

        Assert.That(reclaimer.IsBurst(0), Is.True);
    }

    [Test]
    public void LaterSyncsAreBurstsOnlyFromTheThresholdOn()
    {
        var reclaimer = new HeapReclaimer(largeSyncWrites: 100);
        reclaimer.IsBurst(0);

        Assert.Multiple(() =>
        {
            Assert.That(reclaimer.IsBurst(0), Is.False, "an idle resync");
            Assert.That(reclaimer.IsBurst(99), Is.False, "just under the threshold");
            Assert.That(reclaimer.IsBurst(100), Is.True, "the threshold itself");
            Assert.That(reclaimer.IsBurst(5), Is.False, "a small change after a burst");
        });
    }

    [Test]
    public void AfterSyncCollectsOnlyForBursts()
    {
        var reclaimer = new HeapReclaimer(largeSyncWrites: 100);
        var before = GC.CollectionCount(GC.MaxGeneration);

        var first = reclaimer.AfterSync(3);
        var afterFirst = GC.CollectionCount(GC.MaxGeneration);
        var small = reclaimer.AfterSync(3);

        Assert.Multiple(() =>
        {
            Assert.That(first, Is.True);
            Assert.That(afterFirst, Is.GreaterThan(before), "a full collection ran");
            Assert.That(small, Is.False);
        });
    }

    [Test]
    public void A_sync_that_allocated_as_much_as_the_heap_held_is_a_burst_though_it_wrote_nothing()
    {
        // A periodic full resync re-reads the maps and rebuilds everything: its garbage would otherwise stay in gen 2.
        var reclaimer = new HeapReclaimer(largeSyncWrites: 100);
        reclaimer.AfterSync(0);
        var held = reclaimer.HeldAfterReclaim;
        Assert.That(held, Is.GreaterThan(0), "the heap held after the first reclaim");

        Assert.Multiple(() =>
        {
            Assert.That(reclaimer.IsBurst(0, bytesAllocated: HeapReclaimer.MinAllocatedBurstBytes - 1), Is.False,
                "below the floor: a small cluster's resync is not worth a pause");
            var atLeast = Math.Max(held, HeapReclaimer.MinAllocatedBurstBytes);
            Assert.That(reclaimer.IsBurst(0, bytesAllocated: atLeast), Is.True, "as much as the heap held, and above the floor");
            if (held > HeapReclaimer.MinAllocatedBurstBytes)
                Assert.That(reclaimer.IsBurst(0, bytesAllocated: held - 1), Is.False, "less than the heap held");
        });
    }
}

