using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.Dataplane.Tests.Support;

namespace ProxyReplacement.Dataplane.Tests.Maps;

/// <summary>Map operations against real kernel maps of a freshly loaded, unpinned core object.</summary>
[Category("Privileged")]
public sealed class BpfMapTests
{
    private const int BackendCapacity = 8;
    private CoreDataplane? _dataplane;

    private CoreDataplane Dataplane => _dataplane!;

    [SetUp]
    public void Load()
    {
        Privileged.Require();
        _dataplane = CoreDataplane.Load(new DataplaneOptions
        {
            Sizes = new CoreMapSizes(Frontends: 16, Backends: BackendCapacity, Affinity: 16, Conntrack: 16),
        });
    }

    [TearDown]
    public void Close() => _dataplane?.Dispose();

    private static NatBackendKey BackendKey(uint ordinal) => new(7, ordinal);
    private static NatBackendValue4 Backend(int host) => new(IPAddress.Parse($"10.1.0.{host}"), (ushort)(8000 + host));

    [Test]
    public void SizesAreAppliedBeforeLoad()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Dataplane.Frontends.MaxEntries, Is.EqualTo(16));
            Assert.That(Dataplane.Backends.MaxEntries, Is.EqualTo(BackendCapacity));
            Assert.That(Dataplane.Conntrack.Layout.KeySize, Is.EqualTo(16));
            Assert.That(Dataplane.Conntrack.Id, Is.Not.EqualTo(Dataplane.Affinity.Id));
        });
    }

    [Test]
    public void UpdateLookupDelete()
    {
        var map = Dataplane.Frontends;
        var key = new NatFrontendKey4(IPAddress.Parse("10.96.0.10"), 53, L4Protocol.Udp);
        var value = new NatFrontendValue(42, 3, FrontendFlags.Affinity, 10800);

        Assert.That(map.TryLookup(key, out _), Is.False);
        map.Update(key, value);
        Assert.That(map.TryLookup(key, out var read), Is.True);
        Assert.That(read, Is.EqualTo(value));

        var other = new NatFrontendValue(42, 4);
        map.Update(key, other, MapUpdateMode.Exist);
        Assert.That(map.TryLookup(key, out read) ? read : default, Is.EqualTo(other));

        Assert.That(map.Delete(key), Is.True);
        Assert.That(map.Delete(key), Is.False);
        Assert.That(map.TryLookup(key, out _), Is.False);
    }

    [Test]
    public void UpdateModesReportErrno()
    {
        var map = Dataplane.Backends;
        map.Update(BackendKey(0), Backend(1), MapUpdateMode.NoExist);
        var exists = Assert.Throws<BpfException>(() => map.Update(BackendKey(0), Backend(2), MapUpdateMode.NoExist));
        var missing = Assert.Throws<BpfException>(() => map.Update(BackendKey(1), Backend(2), MapUpdateMode.Exist));
        Assert.Multiple(() =>
        {
            Assert.That(exists!.Errno, Is.EqualTo(Errno.EEXIST));
            Assert.That(exists.Message, Does.Contain("pr_nat_be4").And.Contain("EEXIST"));
            Assert.That(missing!.Errno, Is.EqualTo(Errno.ENOENT));
        });
    }

    [Test]
    public void ReadAllWalksEveryEntry()
    {
        var expected = Enumerable.Range(0, 6).ToDictionary(i => BackendKey((uint)i), i => Backend(i + 1));
        foreach (var (key, value) in expected)
            Dataplane.Backends.Update(key, value);

        var all = Dataplane.Backends.ReadAll();

        Assert.That(all.ToDictionary(e => e.Key, e => e.Value), Is.EquivalentTo(expected));
        Assert.That(all, Has.Count.EqualTo(expected.Count));
    }

    [Test]
    public void ReadAllReadsMapsLargerThanOneBatch()
    {
        // More entries than one BPF_MAP_LOOKUP_BATCH call returns (4,096), in a map of its own size.
        const int entries = 10_000;
        using var large = CoreDataplane.Load(new DataplaneOptions { Sizes = new CoreMapSizes(Frontends: 16, Backends: entries, Affinity: 16, Conntrack: 16) });
        var keys = Enumerable.Range(0, entries).Select(i => new NatBackendKey((uint)(i / 4 + 1), (uint)(i % 4))).ToArray();
        var values = Enumerable.Range(0, entries).Select(i => new NatBackendValue4(IPAddress.Parse($"10.{i / 65536}.{i / 256 % 256}.{i % 256}"), 8080)).ToArray();
        large.Backends.UpdateBatch(keys, values);

        var all = large.Backends.ReadAll();

        Assert.That(all, Has.Count.EqualTo(entries), "every entry once");
        Assert.That(all.ToDictionary(e => e.Key, e => e.Value), Is.EquivalentTo(keys.Zip(values).ToDictionary(pair => pair.First, pair => pair.Second)));
    }

    [Test]
    public void ReadAllReadsEverySlotOfAnArrayLargerThanOneBatchOnce()
    {
        // pr_nat_direct4, an ARRAY: read in batches like a hash map (walking its keys took 1.3 s at 262,144 slots).
        const int slots = 16384;
        using var large = CoreDataplane.Load(new DataplaneOptions { Sizes = new CoreMapSizes(Frontends: 16, Backends: 16, Affinity: 16, Conntrack: 16, DirectSlots: slots) });
        var written = new uint[] { 0, 4095, 4096, 16383 }.ToDictionary(slot => slot, slot => new NatDirectEntry4(
            new NatFrontendKey4(IPAddress.Parse($"10.96.{slot / 256}.{slot % 256}"), 80, L4Protocol.Tcp), slot + 1, [Backend((int)(slot % 200) + 1)]));
        foreach (var (slot, entry) in written)
            large.Direct.Update(slot, entry);

        var all = large.Direct.ReadAll();

        Assert.That(all.Select(e => e.Key), Is.EqualTo(Enumerable.Range(0, slots).Select(i => (uint)i)), "every slot once, in order");
        Assert.That(all.Where(e => !e.Value.Equals(default(NatDirectEntry4))).ToDictionary(e => e.Key, e => e.Value), Is.EquivalentTo(written));
    }

    [Test]
    public void ReadWhereKeepsOnlyTheAcceptedSlotsOfAnArrayLargerThanOneBatch()
    {
        const int slots = 16384;
        using var large = CoreDataplane.Load(new DataplaneOptions { Sizes = new CoreMapSizes(Frontends: 16, Backends: 16, Affinity: 16, Conntrack: 16, DirectSlots: slots) });
        var written = new uint[] { 0, 4095, 4096, 9000, 16383 }.ToDictionary(slot => slot, slot => new NatDirectEntry4(
            new NatFrontendKey4(IPAddress.Parse($"10.96.{slot / 256}.{slot % 256}"), 80, L4Protocol.Tcp), slot + 1, [Backend((int)(slot % 200) + 1)]));
        foreach (var (slot, entry) in written)
            large.Direct.Update(slot, entry);

        var held = large.Direct.ReadWhere((_, entry) => !entry.Equals(default(NatDirectEntry4)));
        var odd = large.Direct.ReadWhere((slot, _) => slot % 2 == 1);

        Assert.Multiple(() =>
        {
            Assert.That(held.ToDictionary(e => e.Key, e => e.Value), Is.EquivalentTo(written), "the written slots, each once, no empty one");
            Assert.That(odd.Select(e => e.Key), Is.EqualTo(Enumerable.Range(0, slots).Where(i => i % 2 == 1).Select(i => (uint)i)), "the predicate sees each key");
        });
    }

    [Test]
    public void ReadAllOfAnEmptyMapIsEmpty() => Assert.That(Dataplane.Conntrack.ReadAll(), Is.Empty);

    [Test]
    public void InsertIntoAFullHashMapThrowsMapFull()
    {
        for (uint i = 0; i < BackendCapacity; i++)
            Dataplane.Backends.Update(BackendKey(i), Backend((int)i + 1));

        var full = Assert.Throws<BpfMapFullException>(() => Dataplane.Backends.Update(BackendKey(BackendCapacity), Backend(99)));
        Assert.That(full!.MapName, Is.EqualTo("pr_nat_be4"));
        Assert.That(full.MaxEntries, Is.EqualTo(BackendCapacity));
        // Overwriting an existing key in a full map is fine.
        Assert.DoesNotThrow(() => Dataplane.Backends.Update(BackendKey(0), Backend(50)));
    }

    [Test]
    public void UpdateBatchWritesAll()
    {
        var keys = Enumerable.Range(0, 5).Select(i => BackendKey((uint)i)).ToArray();
        var values = Enumerable.Range(0, 5).Select(i => Backend(i + 10)).ToArray();

        Dataplane.Backends.UpdateBatch(keys, values);

        Assert.That(Dataplane.Backends.ReadAll().ToDictionary(e => e.Key, e => e.Value),
            Is.EquivalentTo(keys.Zip(values).ToDictionary(p => p.First, p => p.Second)));
    }

    [Test]
    public void UpdateBatchBeyondCapacityThrowsMapFull()
    {
        var keys = Enumerable.Range(0, BackendCapacity + 2).Select(i => BackendKey((uint)i)).ToArray();
        var values = keys.Select(k => Backend((int)k.Ordinal + 1)).ToArray();

        Assert.Throws<BpfMapFullException>(() => Dataplane.Backends.UpdateBatch(keys, values));
        Assert.That(Dataplane.Backends.ReadAll(), Has.Count.EqualTo(BackendCapacity));
    }

    [Test]
    public void UpdateBatchRejectsMismatchedLengths() =>
        Assert.Throws<ArgumentException>(() => Dataplane.Backends.UpdateBatch(new[] { BackendKey(0) }, ReadOnlySpan<NatBackendValue4>.Empty));

    [Test]
    public void DeleteBatchIgnoresAbsentKeysAndCountsDeleted()
    {
        for (uint i = 0; i < 6; i++)
            Dataplane.Backends.Update(BackendKey(i), Backend((int)i + 1));

        // Absent keys first, in the middle, consecutive and last: each stops a kernel batch.
        var toDelete = new uint[] { 100, 0, 1, 101, 102, 3, 5, 103 }.Select(BackendKey).ToArray();
        var deleted = Dataplane.Backends.DeleteBatch(toDelete);

        Assert.That(deleted, Is.EqualTo(4));
        Assert.That(Dataplane.Backends.ReadAll().Select(e => e.Key.Ordinal), Is.EquivalentTo(new uint[] { 2, 4 }));
        Assert.That(Dataplane.Backends.DeleteBatch(ReadOnlySpan<NatBackendKey>.Empty), Is.Zero);
    }

    [Test]
    public void LruConntrackMapEvictsInsteadOfFailing()
    {
        var now = Monotonic.NowNs();
        for (var i = 0; i < 64; i++)
        {
            var key = new ConntrackKey4(IPAddress.Parse("10.0.0.1"), (ushort)(10000 + i), IPAddress.Parse("10.96.0.1"), 80, L4Protocol.Tcp);
            Dataplane.Conntrack.Update(key, new ConntrackValue4(now, now, ConntrackType.Forward, ConntrackTcpState.SynSent, 0, 0, 1,
                IPAddress.Parse("10.1.0.1"), 8080));
        }
        Assert.That(Dataplane.Conntrack.ReadAll(), Has.Count.InRange(1, 16));
    }

    [Test]
    public void CountersSumOverCpusAndReset()
    {
        var counters = Dataplane.CounterMap;
        var perCpu = Enumerable.Range(1, counters.PossibleCpus).Select(i => (ulong)i * 10).ToArray();
        counters.Write((uint)CounterReason.NatNewFlow, perCpu);
        counters.Write((uint)CounterReason.DropMalformed, Enumerable.Repeat(1UL, counters.PossibleCpus).ToArray());

        var totals = Dataplane.ReadCounters();
        Assert.Multiple(() =>
        {
            Assert.That(totals[CounterReason.NatNewFlow], Is.EqualTo(perCpu.Aggregate(0UL, (a, b) => a + b)));
            Assert.That(totals[CounterReason.DropMalformed], Is.EqualTo((ulong)counters.PossibleCpus));
            Assert.That(totals[CounterReason.PassNotIpv4], Is.Zero);
            Assert.That(totals.Keys, Is.EquivalentTo(Enum.GetValues<CounterReason>()));
            Assert.That(counters.Read((uint)CounterReason.NatNewFlow), Is.EqualTo(perCpu));
        });

        Dataplane.ResetCounters();
        Assert.That(Dataplane.ReadCounters().Values, Is.All.Zero);
    }

    [Test]
    public void ConfigRoundTrips()
    {
        Assert.That(Dataplane.ReadConfig(), Is.EqualTo(DataplaneConfig.Default.WithDirectMask(Dataplane.DirectMask)),
            "a fresh load writes the defaults, and the fast path's mask of its table");
        var custom = new DataplaneConfig(5, 600, 3, 30, 20);
        Dataplane.WriteConfig(custom);
        Assert.That(Dataplane.ReadConfig(), Is.EqualTo(custom));
    }

    [Test]
    public void DisposingTheDataplaneClosesItsMaps()
    {
        var map = Dataplane.Frontends;
        var key = new NatFrontendKey4(IPAddress.Parse("10.96.0.1"), 443, L4Protocol.Tcp);
        map.Update(key, new NatFrontendValue(1, 1));
        var id = map.Id;
        _dataplane!.Dispose();
        Assert.Throws<ObjectDisposedException>(() => map.TryLookup(key, out _));
        Assert.That(id, Is.Not.Zero);
    }

    [Test]
    public void LpmTrieMapWorksThroughTheSameInterface()
    {
        // pr_svc_cidr4 is an LPM trie: no batch ops in the kernel, so the batch calls fall back.
        var map = Dataplane.ServiceCidrs;
        var keys = new[] { new ServiceCidrKey4(IPAddress.Parse("10.96.0.0"), 12), new ServiceCidrKey4(IPAddress.Parse("10.100.0.0"), 16) };
        map.UpdateBatch(keys, new ServiceCidrValue[2]);
        Assert.That(map.ReadAll().Select(e => e.Key), Is.EquivalentTo(keys));
        Assert.That(map.DeleteBatch([keys[0], new ServiceCidrKey4(IPAddress.Parse("192.168.0.0"), 16), keys[1]]), Is.EqualTo(2));
        Assert.That(map.ReadAll(), Is.Empty);
    }
}
