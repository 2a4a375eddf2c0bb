using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Tests.Sync;

public sealed class ServiceIdAllocatorTests
{
    private static ServicePortKey Port(string name, string port = "", Protocol protocol = Protocol.Tcp) => new("default", name, port, protocol);

    [Test]
    public void The_same_service_port_keeps_its_id()
    {
        var ids = new ServiceIdAllocator();
        var web = ids.GetOrAllocate(Port("web"));
        var dns = ids.GetOrAllocate(Port("web", "dns", Protocol.Udp));

        Assert.Multiple(() =>
        {
            Assert.That(ids.GetOrAllocate(Port("web")), Is.EqualTo(web));
            Assert.That(dns, Is.Not.EqualTo(web));
            Assert.That(ids.GetOrAllocate(Port("web", "dns", Protocol.Tcp)), Is.Not.EqualTo(dns), "protocol is part of the identity");
        });
    }

    [Test]
    public void A_clone_has_the_same_ids_and_continues_where_the_original_would_but_changes_it_not()
    {
        var ids = new ServiceIdAllocator();
        var a = ids.GetOrAllocate(Port("a"));
        var b = ids.GetOrAllocate(Port("b"));
        ids.Release(Port("b"));

        var clone = ids.Clone();
        var next = clone.GetOrAllocate(Port("c"));
        clone.Release(Port("a"));

        Assert.Multiple(() =>
        {
            Assert.That(next, Is.EqualTo(ids.GetOrAllocate(Port("c"))), "the clone hands out what the original would next");
            Assert.That(next, Is.Not.EqualTo(b), "nor does it hand a released id out again right away");
            Assert.That(ids.TryGet(Port("a"), out var kept) && kept == a, Is.True, "releasing in the clone leaves the original's id");
            Assert.That(clone.TryGet(Port("a"), out _), Is.False);
        });
    }

    [Test]
    public void A_released_id_is_not_handed_out_again_right_away()
    {
        var ids = new ServiceIdAllocator();
        var first = ids.GetOrAllocate(Port("a"));
        ids.Release(Port("a"));

        var second = ids.GetOrAllocate(Port("b"));
        var again = ids.GetOrAllocate(Port("a"));

        Assert.That(new[] { first, second, again }, Is.Unique);
    }

    [Test]
    public void Adopted_ids_are_kept_and_new_ids_continue_after_them()
    {
        var ids = new ServiceIdAllocator();

        Assert.Multiple(() =>
        {
            Assert.That(ids.TryAdopt(Port("a"), 7), Is.True);
            Assert.That(ids.TryAdopt(Port("b"), 7), Is.False, "an id has one owner");
            Assert.That(ids.TryAdopt(Port("a"), 9), Is.False, "a port has one id");
            Assert.That(ids.GetOrAllocate(Port("a")), Is.EqualTo(7u));
            Assert.That(ids.GetOrAllocate(Port("b")), Is.EqualTo(8u));
        });
    }

    [Test]
    public void Ids_still_present_in_the_maps_are_skipped()
    {
        var ids = new ServiceIdAllocator();

        var id = ids.GetOrAllocate(Port("a"), candidate => candidate is 1 or 2);

        Assert.That(id, Is.EqualTo(3u));
    }

    [Test]
    public void RetainOnly_releases_the_rest()
    {
        var ids = new ServiceIdAllocator();
        var keep = ids.GetOrAllocate(Port("keep"));
        var drop = ids.GetOrAllocate(Port("drop"));

        ids.RetainOnly(new HashSet<ServicePortKey> { Port("keep") });

        Assert.Multiple(() =>
        {
            Assert.That(ids.Assignments.Keys, Is.EqualTo(new[] { Port("keep") }));
            Assert.That(ids.IsTaken(drop), Is.False);
            Assert.That(ids.IsTaken(keep), Is.True);
            Assert.That(ids.Assignments[Port("keep")], Is.EqualTo(keep));
        });
    }
}
