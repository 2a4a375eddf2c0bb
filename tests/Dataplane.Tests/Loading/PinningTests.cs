using System.Net;
using System.Runtime.InteropServices;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Interop;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.Dataplane.Tests.Support;

namespace ProxyReplacement.Dataplane.Tests.Loading;

/// <summary>Pinning on a private bpffs, adoption on reload, and the refusals that protect pinned state.</summary>
[Category("Privileged")]
public sealed class PinningTests
{
    private static readonly string[] NamedCoreMaps =
    [
        CoreObjectNames.Frontends, CoreObjectNames.Backends, CoreObjectNames.Affinity,
        CoreObjectNames.Conntrack, CoreObjectNames.Counters, CoreObjectNames.Config, CoreObjectNames.ServiceCidrs,
    ];

    /// <summary>Every map the object defines (read from it, so new maps are covered too).</summary>
    private static readonly Lazy<string[]> CoreMapsOfObject = new(() =>
    {
        using var obj = BpfObjectHandle.Open(EmbeddedObjects.Read(CoreObjectNames.ObjectFile), "pin_test");
        return BpfObjectLoader.MapsOf(obj.Pointer).Keys.Where(PinRoot.IsPinnable).ToArray();
    });

    private static string[] CoreMaps => CoreMapsOfObject.Value;

    [Test]
    public void TheObjectDefinesTheNamedCoreMaps() => Assert.That(CoreMaps, Is.SupersetOf(NamedCoreMaps));

    private static readonly CoreMapSizes Small = new(Frontends: 32, Backends: 64, Affinity: 32, Conntrack: 128);

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

    private CoreDataplane LoadPinned(CoreMapSizes? sizes = null) =>
        CoreDataplane.Load(new DataplaneOptions { PinRoot = PinRootPath, Sizes = sizes ?? Small });

    [Test]
    public void FirstLoadPinsEveryMapAndAdoptsNone()
    {
        using var dataplane = LoadPinned();
        Assert.That(dataplane.AdoptedMaps, Is.Empty);
        Assert.That(Directory.EnumerateFileSystemEntries(PinRootPath).Select(Path.GetFileName), Is.EquivalentTo(CoreMaps));
        Assert.That(dataplane.ReadConfig(), Is.EqualTo(DataplaneConfig.Default.WithDirectMask(dataplane.DirectMask)), "the defaults, and the fast path's mask of this load");
    }

    [Test]
    public void ReloadAdoptsEveryMapWithItsEntries()
    {
        var frontend = new NatFrontendKey4(IPAddress.Parse("10.96.0.10"), 80, L4Protocol.Tcp);
        var ct = new ConntrackKey4(IPAddress.Parse("10.0.0.5"), 40000, IPAddress.Parse("10.96.0.10"), 80, L4Protocol.Tcp);
        var ctValue = new ConntrackValue4(1, 2, ConntrackType.Forward, ConntrackTcpState.Established, 0, 0, 3, IPAddress.Parse("10.1.0.1"), 8080);
        var aff = new AffinityKey4(frontend, IPAddress.Parse("10.0.0.5"));
        var affValue = new AffinityValue4(5, 0, IPAddress.Parse("10.1.0.1"), 8080);
        var config = new DataplaneConfig(7, 700, 7, 70, 77);
        uint[] firstIds;

        using (var first = LoadPinned())
        {
            first.Frontends.Update(frontend, new NatFrontendValue(3, 1));
            first.Backends.Update(new NatBackendKey(3, 0), new NatBackendValue4(IPAddress.Parse("10.1.0.1"), 8080));
            first.Affinity.Update(aff, affValue);
            first.Conntrack.Update(ct, ctValue);
            first.WriteConfig(config);
            first.CounterMap.Write((uint)CounterReason.NatNewFlow, Enumerable.Repeat(3UL, first.CounterMap.PossibleCpus).ToArray());
            firstIds = [first.Frontends.Id, first.Backends.Id, first.Affinity.Id, first.Conntrack.Id];
        }

        using var second = LoadPinned();
        Assert.Multiple(() =>
        {
            Assert.That(second.AdoptedMaps, Is.EquivalentTo(CoreMaps));
            Assert.That(new[] { second.Frontends.Id, second.Backends.Id, second.Affinity.Id, second.Conntrack.Id }, Is.EqualTo(firstIds));
            Assert.That(second.Frontends.ReadAll().Single(), Is.EqualTo(KeyValuePair.Create(frontend, new NatFrontendValue(3, 1))));
            Assert.That(second.Backends.ReadAll(), Has.Count.EqualTo(1));
            Assert.That(second.Affinity.TryLookup(aff, out var a) ? a : default, Is.EqualTo(affValue));
            Assert.That(second.Conntrack.TryLookup(ct, out var c) ? c : default, Is.EqualTo(ctValue));
            Assert.That(second.ReadConfig(), Is.EqualTo(config.WithDirectMask(second.DirectMask)), "an adopted config is not overwritten (but for the fast path's mask)");
            Assert.That(second.ReadCounters()[CounterReason.NatNewFlow], Is.EqualTo(3UL * (ulong)second.CounterMap.PossibleCpus));
        });
    }

    [Test]
    public void APinnedMapOfAnotherLayoutIsRefusedAndLeftIntact()
    {
        Directory.CreateDirectory(PinRootPath);
        var path = Path.Combine(PinRootPath, CoreObjectNames.Backends);
        // Same name, value of 24 bytes instead of 8: e.g. what an IPv6-capable build might pin.
        using var foreign = CreatePinnedHash(path, keySize: 8, valueSize: 24, maxEntries: 64);
        foreign.Update(new NatBackendKey(1, 2), new NatFrontendValue(9, 9, FrontendFlags.None, 9));

        var error = Assert.Throws<MapLayoutMismatchException>(() => LoadPinned());

        Assert.Multiple(() =>
        {
            Assert.That(error!.MapName, Is.EqualTo(CoreObjectNames.Backends));
            Assert.That(error.PinPath, Is.EqualTo(path));
            Assert.That(error.Actual.ValueSize, Is.EqualTo(24));
            Assert.That(error.Expected.ValueSize, Is.EqualTo(8));
            Assert.That(error.Message, Does.Contain(path).And.Contain("value_size").And.Contain("cleanup"));
            // Nothing else pinned, the foreign map unchanged.
            Assert.That(Directory.EnumerateFileSystemEntries(PinRootPath).Select(Path.GetFileName), Is.EqualTo(new[] { CoreObjectNames.Backends }));
        });
        using var reopened = BpfMap<NatBackendKey, NatFrontendValue>.OpenPinned(path);
        Assert.That(reopened.Id, Is.EqualTo(foreign.Id));
        Assert.That(reopened.ReadAll().Single().Value, Is.EqualTo(new NatFrontendValue(9, 9, FrontendFlags.None, 9)));
    }

    [Test]
    public void APinnedMapOfAnotherSizeIsMigratedIntoANewMapAtTheNewSize()
    {
        var flows = Enumerable.Range(0, 100).Select(i => KeyValuePair.Create(
            new ConntrackKey4(IPAddress.Parse("10.0.0.5"), (ushort)(40000 + i), IPAddress.Parse("10.96.0.10"), 80, L4Protocol.Tcp),
            new ConntrackValue4(1, 2, ConntrackType.Forward, ConntrackTcpState.Established, 0, 0, 3, IPAddress.Parse("10.1.0.1"), 8080))).ToList();
        var frontend = new NatFrontendKey4(IPAddress.Parse("10.96.0.10"), 80, L4Protocol.Tcp);
        uint oldId, frontendId;
        using (var first = LoadPinned())
        {
            foreach (var (key, value) in flows)
                first.Conntrack.Update(key, value);
            first.Frontends.Update(frontend, new NatFrontendValue(3, 1));
            oldId = first.Conntrack.Id;
            frontendId = first.Frontends.Id;
        }

        using var second = LoadPinned(Small with { Conntrack = 256 });
        var resized = second.ResizedMaps;
        using var pinned = BpfMap<ConntrackKey4, ConntrackValue4>.OpenPinned(Path.Combine(PinRootPath, CoreObjectNames.Conntrack));
        Assert.Multiple(() =>
        {
            Assert.That(resized.Select(r => (r.Name, r.OldMaxEntries, r.NewMaxEntries, r.Copied, r.NotCopied)),
                Is.EqualTo(new[] { (CoreObjectNames.Conntrack, 128u, 256u, 100, 0) }));
            Assert.That(second.AdoptedMaps, Does.Not.Contain(CoreObjectNames.Conntrack).And.Contain(CoreObjectNames.Frontends));
            Assert.That(second.Conntrack.MaxEntries, Is.EqualTo(256));
            Assert.That(second.Conntrack.Id, Is.Not.EqualTo(oldId), "a new map");
            Assert.That(second.Conntrack.ReadAll(), Is.EquivalentTo(flows), "every entry carried over");
            Assert.That(pinned.Id, Is.EqualTo(second.Conntrack.Id), "the pin now names the new map");
            Assert.That(second.Frontends.Id, Is.EqualTo(frontendId), "maps of the same size are adopted as before");
            Assert.That(Directory.EnumerateFileSystemEntries(PinRootPath).Select(Path.GetFileName), Is.EquivalentTo(CoreMaps), "no staging pin left");
        });
    }

    [Test]
    public void EntriesTheOldMapGainsBeforeTheProgramsAreSwappedAreCaughtUp()
    {
        var early = new ConntrackKey4(IPAddress.Parse("10.0.0.5"), 40000, IPAddress.Parse("10.96.0.10"), 80, L4Protocol.Tcp);
        var late = new ConntrackKey4(IPAddress.Parse("10.0.0.5"), 40001, IPAddress.Parse("10.96.0.10"), 80, L4Protocol.Tcp);
        var value = new ConntrackValue4(1, 2, ConntrackType.Forward, ConntrackTcpState.Established, 0, 0, 3, IPAddress.Parse("10.1.0.1"), 8080);
        var newer = new ConntrackValue4(1, 9, ConntrackType.Forward, ConntrackTcpState.Closing, 1, 0, 3, IPAddress.Parse("10.1.0.1"), 8080);
        BpfMap<ConntrackKey4, ConntrackValue4> old;
        using (var first = LoadPinned())
        {
            first.Conntrack.Update(early, value);
            old = BpfMap<ConntrackKey4, ConntrackValue4>.OpenPinned(Path.Combine(PinRootPath, CoreObjectNames.Conntrack));
        }
        using (old)
        {
            using var second = LoadPinned(Small with { Conntrack = 512 });
            // The programs of the previous daemon still write the old map: a new flow, and a change the new map already has newer.
            old.Update(late, value);
            second.Conntrack.Update(early, newer);
            var finished = second.FinishResize();
            Assert.Multiple(() =>
            {
                Assert.That(finished.Single().CaughtUp, Is.EqualTo(1));
                Assert.That(second.Conntrack.TryLookup(late, out var l) ? l : default, Is.EqualTo(value), "the late flow carried over");
                Assert.That(second.Conntrack.TryLookup(early, out var e) ? e : default, Is.EqualTo(newer), "what the new map holds is kept");
                Assert.That(second.FinishResize(), Is.Empty, "once");
            });
        }
    }

    [Test]
    public void AShrunkenHashMapKeepsWhatFitsAndCountsTheRest()
    {
        using (var first = LoadPinned())
            for (uint i = 0; i < 40; i++)
                first.Backends.Update(new NatBackendKey(1, i), new NatBackendValue4(IPAddress.Parse("10.1.0.1"), (ushort)(8000 + i)));

        using var second = LoadPinned(Small with { Backends = 16 });
        var resized = second.ResizedMaps.Single();
        Assert.Multiple(() =>
        {
            Assert.That((resized.Copied, resized.NotCopied), Is.EqualTo((16, 24)));
            Assert.That(second.Backends.ReadAll(), Has.Count.EqualTo(16));
        });
    }

    [Test]
    public void APinnedMapOfAnotherSizeAndTypeIsStillRefused()
    {
        Directory.CreateDirectory(PinRootPath);
        var path = Path.Combine(PinRootPath, CoreObjectNames.Backends);
        // The helper wraps the map with NatFrontendValue (24 bytes); the backend map wants 8.
        using var foreign = CreatePinnedHash(path, keySize: 8, valueSize: 24, maxEntries: 16);
        var error = Assert.Throws<MapLayoutMismatchException>(() => LoadPinned());
        Assert.That(error!.Message, Does.Contain("value_size").And.Contain("Only a different max_entries"));
    }

    [Test]
    public void PinnedConfigOfAnotherAbiVersionIsRefusedBeforeLoading()
    {
        using (var first = LoadPinned())
            first.Frontends.Update(new NatFrontendKey4(IPAddress.Parse("10.96.0.1"), 53, L4Protocol.Udp), new NatFrontendValue(1, 0));
        var configPath = Path.Combine(PinRootPath, CoreObjectNames.Config);
        using (var config = BpfMap<uint, DataplaneConfig>.OpenPinned(configPath))
            config.Update(0, WithAbiVersion(DataplaneConfig.Default, 99));

        var error = Assert.Throws<PinnedAbiVersionMismatchException>(() => LoadPinned());

        Assert.Multiple(() =>
        {
            Assert.That(error!.PinnedVersion, Is.EqualTo(99));
            Assert.That(error.CurrentVersion, Is.EqualTo(DataplaneConfig.CurrentAbiVersion));
            Assert.That(error.Message, Does.Contain("99").And.Contain("cleanup").And.Contain(configPath));
        });
        using var frontends = BpfMap<NatFrontendKey4, NatFrontendValue>.OpenPinned(Path.Combine(PinRootPath, CoreObjectNames.Frontends));
        Assert.That(frontends.ReadAll(), Has.Count.EqualTo(1), "the refused pins keep their entries");
    }

    [Test]
    public void APinnedConfigNeverWrittenIsAdoptedAndStamped()
    {
        using (var first = LoadPinned())
            first.WriteConfig(WithAbiVersion(default, 0));

        using var second = LoadPinned();
        Assert.That(second.AdoptedMaps, Does.Contain(CoreObjectNames.Config));
        Assert.That(second.ReadConfig(), Is.EqualTo(DataplaneConfig.Default.WithDirectMask(second.DirectMask)));
    }

    [Test]
    public void RemovePinsRemovesOnlyOurMaps()
    {
        using (LoadPinned())
        {
        }
        Directory.CreateDirectory(Path.Combine(PinRootPath, "unrelated"));

        var removed = CoreDataplane.RemovePins(PinRootPath);

        Assert.That(removed, Is.EquivalentTo(CoreMaps));
        Assert.That(Directory.EnumerateFileSystemEntries(PinRootPath).Select(Path.GetFileName), Is.EqualTo(new[] { "unrelated" }));
        using var fresh = LoadPinned();
        Assert.That(fresh.AdoptedMaps, Is.Empty);
    }

    [Test]
    public void OpeningAPinnedMapWithWrongCSharpTypesIsRefused()
    {
        using (LoadPinned())
        {
        }
        var path = Path.Combine(PinRootPath, CoreObjectNames.Backends);
        var error = Assert.Throws<MapLayoutMismatchException>(() => BpfMap<NatBackendKey, NatFrontendValue>.OpenPinned(path));
        Assert.That(error!.Message, Does.Contain("value_size"));
    }

    private static DataplaneConfig WithAbiVersion(DataplaneConfig config, uint version)
    {
        var bytes = MemoryMarshal.AsBytes(new[] { config }.AsSpan()).ToArray();
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 4), version);
        return MemoryMarshal.Read<DataplaneConfig>(bytes);
    }

    private static unsafe BpfMap<NatBackendKey, NatFrontendValue> CreatePinnedHash(string path, uint keySize, uint valueSize, uint maxEntries)
    {
        var fd = LibBpf.bpf_map_create(BpfMapType.Hash, "foreign", keySize, valueSize, maxEntries, null);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), $"bpf_map_create: {-fd}");
        var handle = BpfFdHandle.Own(fd);
        var rc = LibBpf.bpf_obj_pin(fd, path);
        Assert.That(rc, Is.Zero, $"bpf_obj_pin: {-rc}");
        return new BpfMap<NatBackendKey, NatFrontendValue>("foreign", handle);
    }
}
