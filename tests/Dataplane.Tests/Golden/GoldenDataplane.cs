using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.Dataplane.Programs;
using ProxyReplacement.Dataplane.Tests.Packets;
using ProxyReplacement.Dataplane.Tests.Support;

namespace ProxyReplacement.Dataplane.Tests.Golden;

/// <summary>
/// One loaded core dataplane for a fixture (loading per test would dominate the suite's time), with
/// the chores of golden-packet tests: emptying maps and counters between tests, prefilling Services,
/// running pr_tc_from_wl on a frame and asserting output frames with every checksum re-verified.
/// </summary>
public sealed class GoldenDataplane : IDisposable
{
    private GoldenDataplane(CoreDataplane dataplane) => Dataplane = dataplane;

    public CoreDataplane Dataplane { get; }

    /// <summary>
    /// Call from [OneTimeSetUp]: skips (or fails under CI) where BPF or the requested build is unavailable.
    /// Golden fixtures run against both builds of tc_nat (<c>[TestFixture(DataplaneVariant.Fast), TestFixture(DataplaneVariant.Compat)]</c>):
    /// the same packets in, the same bytes, verdicts and map entries out.
    /// </summary>
    public static GoldenDataplane Load(DataplaneVariant variant = DataplaneVariant.Auto) => new(TestVariants.LoadCore(variant));

    /// <summary>Empties every core map, zeroes the counters, writes the default configuration and forgets the host netns.</summary>
    public void Reset()
    {
        Clear(Dataplane.Frontends);
        Clear(Dataplane.Backends);
        Clear(Dataplane.Affinity);
        Clear(Dataplane.Conntrack);
        Clear(Dataplane.ServiceCidrs);
        Clear(Dataplane.LbSourceRanges);
        Clear(Dataplane.Routes);
        Dataplane.ResetCounters();
        Dataplane.WriteConfig(DataplaneConfig.Default);
        Dataplane.SetHostNetnsCookie(0);
    }

    /// <summary>Writes the backends at ordinals 0..n-1, then the frontend (make before break).</summary>
    public void AddService(Endpoint vip, L4Protocol protocol, IReadOnlyList<Endpoint> backends, uint serviceId = Topology.ServiceId,
        FrontendFlags flags = FrontendFlags.None, uint affinityTimeoutSeconds = 0, FrontendKind kind = FrontendKind.ClusterIP)
    {
        for (var ordinal = 0; ordinal < backends.Count; ordinal++)
            Dataplane.Backends.Update(new NatBackendKey(serviceId, (uint)ordinal), new NatBackendValue4(backends[ordinal].Address, backends[ordinal].Port));
        Dataplane.Frontends.Update(Topology.FrontendKey(vip, protocol),
            new NatFrontendValue(serviceId, (uint)backends.Count, flags, affinityTimeoutSeconds, kind));
    }

    /// <summary>pr_tc_from_wl: the packet leaves a pod (host side of its veth, ingress).</summary>
    public TestRunResult Run(byte[] frame) => ProgramTestRun.Run(Dataplane.FromWorkload, frame);

    /// <summary>pr_tc_from_host: the packet arrives from outside the node (host data interface, ingress).</summary>
    public TestRunResult RunFromHost(byte[] frame) => ProgramTestRun.Run(Dataplane.FromHost, frame);

    /// <summary>The counters that are not zero: tests compare the whole set, so a stray count fails too.</summary>
    public IReadOnlyDictionary<CounterReason, ulong> Counters() =>
        Dataplane.ReadCounters().Where(pair => pair.Value != 0).ToDictionary(pair => pair.Key, pair => pair.Value);

    public ulong Counter(CounterReason reason) => Dataplane.ReadCounters().GetValueOrDefault(reason);

    public ConntrackValue4 ConntrackEntry(ConntrackKey4 key)
    {
        Assert.That(Dataplane.Conntrack.TryLookup(key, out var value), Is.True, $"conntrack entry {key} is missing");
        return value;
    }

    /// <summary>Exact bytes, and every checksum of the output re-verified independently.</summary>
    public static void AssertFrame(byte[] actual, byte[] expected)
    {
        Assert.That(ChecksumAudit.Problems(actual), Is.Empty, () => "checksums of the output:\n" + Hex.Dump(actual));
        var difference = Hex.Difference(expected, actual);
        Assert.That(difference, Is.Null, difference);
    }

    public static void AssertCounters(IReadOnlyDictionary<CounterReason, ulong> actual, params (CounterReason Reason, ulong Count)[] expected) =>
        Assert.That(actual, Is.EquivalentTo(expected.ToDictionary(e => e.Reason, e => e.Count)),
            () => "counters: " + string.Join(", ", actual.Select(pair => $"{pair.Key}={pair.Value}")));

    public void Dispose() => Dataplane.Dispose();

    private static void Clear<TKey, TValue>(BpfMap<TKey, TValue> map)
        where TKey : unmanaged, IEquatable<TKey> where TValue : unmanaged
    {
        foreach (var entry in map.ReadAll())
            map.Delete(entry.Key);
        Assert.That(map.ReadAll(), Is.Empty, $"map {map.Name} could not be emptied");
    }
}
