using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Interop;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.Dataplane.SocketLb;
using ProxyReplacement.Dataplane.Tests.Support;

namespace ProxyReplacement.Dataplane.Tests.Loading;

/// <summary>
/// pr_nat_direct4 (the ClusterIP fast path) on a private bpffs: derived state, so a pin of another size is recreated empty
/// at the new size instead of refused or migrated; one of the same size is adopted with its slots; the socket hooks' object
/// works on the core's table; cleanup removes its pin.
/// </summary>
[Category("Privileged")]
public sealed class FastPathTablePinningTests
{
    private static readonly CoreMapSizes Small = new(Frontends: 32, Backends: 64, Affinity: 32, Conntrack: 128, DirectSlots: 16);

    private static readonly NatDirectEntry4 Entry = new(new NatFrontendKey4(IPAddress.Parse("10.96.0.3"), 80, L4Protocol.Tcp), 1,
        [new NatBackendValue4(IPAddress.Parse("10.244.0.1"), 8080)]);

    private BpffsMount? _bpffs;
    private string PinRootPath => Path.Combine(_bpffs!.Path, "pr");

    [SetUp]
    public void MountBpffs()
    {
        Privileged.Require();
        _bpffs = BpffsMount.Create();
    }

    [TearDown]
    public void Unmount() => _bpffs?.Dispose();

    private CoreDataplane LoadPinned(CoreMapSizes sizes) => CoreDataplane.Load(new DataplaneOptions { PinRoot = PinRootPath, Sizes = sizes });

    [Test]
    public void A_table_pinned_at_another_size_is_recreated_empty_at_the_new_size_and_the_mask_follows()
    {
        uint oldId, frontendsId;
        using (var first = LoadPinned(Small))
        {
            first.Direct.Update(3, Entry);
            first.Frontends.Update(Entry.Frontend, new NatFrontendValue(1, 1));
            (oldId, frontendsId) = (first.Direct.Id, first.Frontends.Id);
            Assert.That(first.ReadConfig().DirectMask4, Is.EqualTo(15u));
        }

        using var second = LoadPinned(Small with { DirectSlots = 64 });
        using var pinned = BpfMap<uint, NatDirectEntry4>.OpenPinned(Path.Combine(PinRootPath, CoreObjectNames.Direct));
        Assert.Multiple(() =>
        {
            Assert.That(second.RecreatedMaps.Select(r => (r.Name, r.OldMaxEntries, r.NewMaxEntries, r.Copied)),
                Is.EqualTo(new[] { (CoreObjectNames.Direct, 16u, 64u, 0) }));
            Assert.That(second.ResizedMaps, Is.Empty, "not migrated");
            Assert.That(second.Direct.MaxEntries, Is.EqualTo(64));
            Assert.That(second.Direct.Id, Is.Not.EqualTo(oldId), "a new map");
            Assert.That(second.Direct.ReadAll().Where(slot => !slot.Value.Equals(default(NatDirectEntry4))), Is.Empty, "empty: the sync fills it");
            Assert.That(pinned.Id, Is.EqualTo(second.Direct.Id), "the pin names the new map");
            Assert.That(second.ReadConfig().DirectMask4, Is.EqualTo(63u));
            Assert.That(second.AdoptedMaps, Does.Not.Contain(CoreObjectNames.Direct).And.Contain(CoreObjectNames.Frontends));
            Assert.That(second.Frontends.Id, Is.EqualTo(frontendsId));
            Assert.That(Directory.EnumerateFileSystemEntries(PinRootPath).Select(Path.GetFileName), Does.Not.Contain(CoreObjectNames.Direct + "_resizing"));
        });
    }

    [Test]
    public void A_table_of_the_same_size_is_adopted_with_its_slots()
    {
        uint id;
        using (var first = LoadPinned(Small))
        {
            first.Direct.Update(3, Entry);
            id = first.Direct.Id;
        }

        using var second = LoadPinned(Small);
        Assert.Multiple(() =>
        {
            Assert.That(second.AdoptedMaps, Does.Contain(CoreObjectNames.Direct));
            Assert.That(second.RecreatedMaps, Is.Empty);
            Assert.That(second.Direct.Id, Is.EqualTo(id));
            Assert.That(second.Direct.TryLookup(3, out var held) ? held : default, Is.EqualTo(Entry));
        });
    }

    [Test]
    public void Turned_off_the_table_is_one_slot_and_the_mask_zero()
    {
        using (LoadPinned(Small))
        {
        }
        using var off = LoadPinned(Small with { DirectSlots = 1 });
        Assert.That((off.Direct.MaxEntries, off.DirectMask, off.ReadConfig().DirectMask4), Is.EqualTo((1, 0u, 0u)));
    }

    [Test]
    public void The_socket_hooks_object_works_on_the_cores_table()
    {
        using var core = LoadPinned(Small);
        using var socketLb = SocketLoadBalancer.LoadObject(EmbeddedObjects.Read(SocketLoadBalancer.ObjectFile), "sock_lb", core);
        using var fd = socketLb.DuplicateMapFd(CoreObjectNames.Direct);

        var (_, id, _) = BpfObjectInfo.Map(fd.Fd, "sock_lb's pr_nat_direct4");

        Assert.That(id, Is.EqualTo(core.Direct.Id));
    }

    [Test]
    public void Cleanup_removes_the_tables_pin()
    {
        using (LoadPinned(Small))
        {
        }

        var removed = CoreDataplane.RemovePins(PinRootPath);

        Assert.That(removed, Does.Contain(CoreObjectNames.Direct));
        Assert.That(File.Exists(Path.Combine(PinRootPath, CoreObjectNames.Direct)), Is.False);
    }
}
