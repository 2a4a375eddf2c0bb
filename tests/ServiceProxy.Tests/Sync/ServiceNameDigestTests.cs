using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Tests.Sync;

public sealed class ServiceNameDigestTests
{
    [Test]
    public void Equal_names_have_equal_digests()
    {
        var name = new ServiceName("apps", "web", "http", L4Protocol.Tcp);
        Assert.That(ServiceNameDigest.Of(new ServiceName("apps", "web", "http", L4Protocol.Tcp)), Is.EqualTo(ServiceNameDigest.Of(name)));
    }

    [Test]
    public void A_change_in_any_field_changes_the_digest()
    {
        var names = new[]
        {
            new ServiceName("apps", "web", "http", L4Protocol.Tcp),
            new ServiceName("apps2", "web", "http", L4Protocol.Tcp),
            new ServiceName("apps", "wep", "http", L4Protocol.Tcp),
            new ServiceName("apps", "web", "https", L4Protocol.Tcp),
            new ServiceName("apps", "web", "", L4Protocol.Tcp),
            new ServiceName("apps", "web", "http", L4Protocol.Udp),
            new ServiceName("apps", "web", "http", L4Protocol.Sctp),
            new ServiceName("", "", "", L4Protocol.Tcp),
        };
        var digests = names.Select(ServiceNameDigest.Of).ToList();
        Assert.That(digests.Distinct().Count(), Is.EqualTo(names.Length));
    }

    [Test]
    public void Many_similar_names_never_collide()
    {
        // 200k ids' worth of names that differ in a digit or two, as generated clusters name them.
        var digests = new HashSet<ServiceNameDigest>();
        for (var i = 0; i < 100_000; i++)
        {
            digests.Add(ServiceNameDigest.Of(new ServiceName("bench", $"svc-{i}", "http", L4Protocol.Tcp)));
            digests.Add(ServiceNameDigest.Of(new ServiceName("bench", $"svc-{i}", "http", L4Protocol.Udp)));
        }
        Assert.That(digests, Has.Count.EqualTo(200_000));
    }
}
