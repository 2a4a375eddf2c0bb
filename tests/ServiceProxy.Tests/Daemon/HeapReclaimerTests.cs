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
}
