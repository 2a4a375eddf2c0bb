using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sources;

namespace ProxyReplacement.ServiceProxy.Tests.Sources;

public sealed class DefinitionCountsTests
{
    private static readonly ObjectKey Web = new("apps", "web"), Api = new("apps", "api");

    [Test]
    public void Counts_each_definition_and_tells_the_first()
    {
        var counts = new DefinitionCounts();
        Assert.Multiple(() =>
        {
            Assert.That(counts.Define(Web), Is.True, "first");
            Assert.That(counts.Define(Web), Is.False, "second");
            Assert.That(counts.Define(Web), Is.False, "third");
            Assert.That(counts.Define(Api), Is.True);
            Assert.That(counts.CountOf(Web), Is.EqualTo(3));
            Assert.That(counts.CountOf(Api), Is.EqualTo(1));
            Assert.That(counts.CountOf(new ObjectKey("apps", "db")), Is.Zero);
            Assert.That(counts.Contains(Web) && counts.Contains(Api), Is.True);
            Assert.That(counts.Count, Is.EqualTo(2), "distinct keys");
        });
    }

    [Test]
    public void SetOnce_and_Remove_overwrite_the_count()
    {
        var counts = new DefinitionCounts(capacity: 4);
        counts.Define(Web);
        counts.Define(Web);
        counts.SetOnce(Web);
        counts.SetOnce(Api);
        Assert.Multiple(() =>
        {
            Assert.That(counts.CountOf(Web), Is.EqualTo(1));
            Assert.That(counts.CountOf(Api), Is.EqualTo(1));
        });
        counts.Define(Web);
        counts.Remove(Web);
        Assert.Multiple(() =>
        {
            Assert.That(counts.CountOf(Web), Is.Zero);
            Assert.That(counts.Contains(Web), Is.False);
            Assert.That(counts.Define(Web), Is.True, "defined again from nothing");
            Assert.That(counts.Count, Is.EqualTo(2));
        });
    }
}
