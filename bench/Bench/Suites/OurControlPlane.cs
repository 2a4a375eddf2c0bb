using System.Diagnostics;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Workload;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.Bench.Suites;

/// <summary>
/// What one cold programming cost, by stage; the bytes it allocated on the managed heap and the time the GC paused it;
/// and, when asked for, the kernel's floor: the same entries written straight into fresh maps with batch updates, nothing else.
/// </summary>
public sealed record ColdProgrammingCost(double ReplaceAllMs, double CommitMs, double SyncMs, long AllocatedBytes, double GcPauseMs,
    double? KernelFloorMs)
{
    public double TotalMs => ReplaceAllMs + CommitMs + SyncMs;
}

/// <summary>The kinds of Service change timed by <see cref="OurControlPlane.ChangeServices"/>.</summary>
public enum ServiceChange
{
    Add,
    Edit,
    Delete,
}

/// <summary>The latencies of one run of EndpointSlice changes and the bytes allocated per change.</summary>
public sealed record ChangeRun(Measurement Latencies, double AllocatedBytesPerChange);

/// <summary>
/// Our side of the control-plane benchmarks, shared by <see cref="ControlPlaneSuite"/> (against iptables) and
/// <see cref="ControlPlaneOursSuite"/> (ours alone, with stages and allocations): a cold programming of a cluster
/// into fresh, sized BPF maps, and a run of single EndpointSlice changes on a programmed cluster.
/// </summary>
public static class OurControlPlane
{
    /// <summary>Untimed changes first in each run: the first calls of a code path pay for its JIT compilation.</summary>
    public const int ChangeWarmUp = 5;

    /// <summary>
    /// Programs a small cluster once, untimed, so that the first timed size does not also pay for compiling
    /// the tracker and Syncer (a daemon pays that once at start, not per programming). Returns how long it took.
    /// </summary>
    public static double WarmUp(BenchContext context)
    {
        var cluster = new SyntheticServices(Math.Min(500, context.Settings.ControlPlaneServiceCounts.Min()), context.Settings.EndpointsPerService);
        using var dataplane = ProgrammedMaps.Load(cluster.Count, cluster.EndpointsPerService);
        var clock = Stopwatch.StartNew();
        ProgrammedMaps.Program(dataplane, cluster.Services().ToList(), cluster.Slices().ToList());
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>
    /// One cold programming: fresh maps sized for the cluster, a full garbage collection (the previous run's garbage
    /// must not be collected inside this run's timing), then the timed part: tracker <c>ReplaceAll</c>, <c>Commit</c>,
    /// the Syncer's first (full) sync into the kernel maps. Throws when a write failed or a frontend is missing.
    /// </summary>
    /// <param name="withKernelFloor">Also measure <see cref="KernelFloor"/> (untimed here; it loads a second dataplane).</param>
    public static ColdProgrammingCost ProgramCold(IReadOnlyList<Service> services, IReadOnlyList<EndpointSlice> slices, int endpointsPerService,
        bool withKernelFloor = false)
    {
        using var dataplane = ProgrammedMaps.Load(services.Count, endpointsPerService);
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();

        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var pausedBefore = GC.GetTotalPauseDuration();
        var clock = Stopwatch.StartNew();
        var tracker = new ChangeTracker();
        var syncer = new Syncer(dataplane.Frontends, dataplane.Backends, direct: dataplane.Direct, directStartsEmpty: true); // the daemon's default: the fast-path slots too
        tracker.ReplaceAll(services, slices);
        var replaced = clock.Elapsed.TotalMilliseconds;
        var commit = tracker.Commit();
        var committed = clock.Elapsed.TotalMilliseconds;
        var result = syncer.Sync(commit, fullResync: true);
        var synced = clock.Elapsed.TotalMilliseconds;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        var paused = (GC.GetTotalPauseDuration() - pausedBefore).TotalMilliseconds;

        if (result.Problems.Count > 0)
            throw new InvalidOperationException($"programming the maps: {result.Problems.Count} problems, first: {result.Problems[0]}");
        var frontends = dataplane.Frontends.ReadAll().Count;
        if (frontends != services.Count)
            throw new InvalidOperationException($"cold programming left {frontends} frontends, expected {services.Count}");
        double? floor = withKernelFloor ? KernelFloor(dataplane, services.Count, endpointsPerService) : null;
        return new ColdProgrammingCost(replaced, committed - replaced, synced - committed, allocated, paused, floor);
    }

    /// <summary>
    /// Writes what <paramref name="programmed"/> holds into a second fresh dataplane, backends then frontends, with
    /// <c>BPF_MAP_UPDATE_BATCH</c> calls of <see cref="FloorBatch"/> entries: what any control plane must pay the
    /// kernel for these entries. Returns the milliseconds of the batch calls alone.
    /// </summary>
    private static double KernelFloor(CoreDataplane programmed, int services, int endpointsPerService)
    {
        var backends = programmed.Backends.ReadAll();
        var frontends = programmed.Frontends.ReadAll();
        using var fresh = ProgrammedMaps.Load(services, endpointsPerService);
        var clock = Stopwatch.StartNew();
        WriteBatched(fresh.Backends, backends);
        WriteBatched(fresh.Frontends, frontends);
        return clock.Elapsed.TotalMilliseconds;
    }

    private const int FloorBatch = 4096;

    private static void WriteBatched<TKey, TValue>(BpfMap<TKey, TValue> map, IReadOnlyList<KeyValuePair<TKey, TValue>> entries)
        where TKey : unmanaged, IEquatable<TKey>
        where TValue : unmanaged
    {
        var keys = entries.Select(entry => entry.Key).ToArray();
        var values = entries.Select(entry => entry.Value).ToArray();
        for (var start = 0; start < keys.Length; start += FloorBatch)
        {
            var length = Math.Min(FloorBatch, keys.Length - start);
            map.UpdateBatch(keys.AsSpan(start, length), values.AsSpan(start, length));
        }
    }

    /// <summary>
    /// A programmed cluster, then <paramref name="samples"/> changes (after <see cref="ChangeWarmUp"/> untimed ones):
    /// the last endpoint of a random Service's slice is replaced (untimed: the source's part), then timed: <c>Commit</c>
    /// and an incremental <c>Sync</c>, which must apply exactly one map write.
    /// </summary>
    public static ChangeRun ChangeEndpoints(SyntheticServices cluster, int samples, Random random)
    {
        using var dataplane = ProgrammedMaps.Load(cluster.Count, cluster.EndpointsPerService);
        var (tracker, syncer) = ProgrammedMaps.Program(dataplane, cluster);
        var generation = new int[cluster.Count];
        var latencies = new double[samples + ChangeWarmUp];
        long allocated = 0;
        for (var s = 0; s < latencies.Length; s++)
        {
            var index = random.Next(cluster.Count);
            tracker.UpsertEndpointSlice(cluster.Slice(index, ++generation[index]));
            var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
            var clock = Stopwatch.StartNew();
            var commit = tracker.Commit();
            var result = syncer.Sync(commit, fullResync: false);
            latencies[s] = clock.Elapsed.TotalMilliseconds;
            if (s >= ChangeWarmUp)
                allocated += GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
            if (result.Applied.Count != 1 || result.Problems.Count > 0)
                throw new InvalidOperationException($"an endpoint change applied {result.Applied.Count} writes with {result.Problems.Count} problems, expected 1 write");
        }
        return new ChangeRun(new Measurement("ms", latencies[ChangeWarmUp..]), (double)allocated / samples);
    }

    /// <summary>
    /// A programmed cluster (the Syncer with the daemon's side maps: source ranges and service names), then
    /// <paramref name="samples"/> Service changes of one <paramref name="kind"/>, one at a time (after <see cref="ChangeWarmUp"/>
    /// untimed ones): the source's part (tracker upserts and deletes) untimed, then timed <c>Commit</c> and <c>Sync</c>, which
    /// must write exactly the changed Service's entries: <see cref="ServiceChange.Add"/> a new Service and its slice
    /// (its 4 backends and frontend, and its name), <see cref="ServiceChange.Edit"/> a random Service's port moved between 80
    /// and 81 (the new frontend, the old one deleted; the backends stay), <see cref="ServiceChange.Delete"/> a random Service and
    /// its slice (its frontend and 4 backends, and its name). <paramref name="incremental"/>: the daemon's triggered sync of the
    /// commit (which must take the incremental path); otherwise the path every Service change took before it existed, a rebuild
    /// of the whole desired state diffed against the kept view (<c>Sync(snapshot, fullResync: false)</c>), on the same maps.
    /// After the programming, one compacting full collection, as the daemon's <c>HeapReclaimer</c> runs after its first sync.
    /// </summary>
    public static ChangeRun ChangeServices(SyntheticServices cluster, ServiceChange kind, int samples, bool incremental, Random random)
    {
        using var dataplane = ProgrammedMaps.Load(cluster.Count + samples + ChangeWarmUp, cluster.EndpointsPerService);
        var (tracker, syncer) = ProgrammedMaps.Program(dataplane, cluster, sideMaps: true);
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        var latencies = new double[samples + ChangeWarmUp];
        long allocated = 0;
        var order = Enumerable.Range(0, cluster.Count).OrderBy(_ => random.Next()).ToArray(); // distinct Services to delete
        var moved = new bool[cluster.Count];
        for (var s = 0; s < latencies.Length; s++)
        {
            int expectedWrites;
            switch (kind)
            {
                case ServiceChange.Add:
                    var added = cluster.Count + s; // beyond the cluster: a new name and ClusterIP
                    tracker.UpsertService(cluster.Service(added));
                    tracker.UpsertEndpointSlice(cluster.Slice(added));
                    expectedWrites = cluster.EndpointsPerService + 1;
                    break;
                case ServiceChange.Edit:
                    var edited = random.Next(cluster.Count);
                    moved[edited] = !moved[edited];
                    var service = cluster.Service(edited);
                    tracker.UpsertService(service with
                    {
                        Ports = EquatableList.From(service.Ports[0] with { Port = SyntheticServices.ServicePort + (moved[edited] ? 1 : 0) }),
                    });
                    expectedWrites = 2;
                    break;
                default:
                    var deleted = cluster.Service(order[s]);
                    tracker.DeleteService(deleted.Key);
                    tracker.DeleteEndpointSlice(cluster.Slice(order[s]).Key);
                    expectedWrites = cluster.EndpointsPerService + 1;
                    break;
            }
            var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
            var clock = Stopwatch.StartNew();
            var commit = tracker.Commit();
            var result = incremental ? syncer.Sync(commit, fullResync: false) : syncer.Sync(commit.Snapshot, fullResync: false);
            latencies[s] = clock.Elapsed.TotalMilliseconds;
            if (s >= ChangeWarmUp)
                allocated += GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
            if (result.Applied.Count != expectedWrites || result.Problems.Count > 0)
                throw new InvalidOperationException($"{kind}: applied {result.Applied.Count} writes with {result.Problems.Count} problems, expected {expectedWrites}");
            if (syncer.LastPath.Incremental != incremental)
                throw new InvalidOperationException($"{kind}: the sync took the {syncer.LastPath} path");
        }
        return new ChangeRun(new Measurement("ms", latencies[ChangeWarmUp..]), (double)allocated / samples);
    }

    /// <summary>
    /// A programmed cluster, then <paramref name="samples"/> periodic full resyncs with nothing changed (after one untimed):
    /// each re-reads both maps from the kernel, rebuilds and diffs everything, and must write nothing.
    /// </summary>
    public static Measurement FullResyncs(SyntheticServices cluster, int samples)
    {
        using var dataplane = ProgrammedMaps.Load(cluster.Count, cluster.EndpointsPerService);
        var (tracker, syncer) = ProgrammedMaps.Program(dataplane, cluster);
        var latencies = new double[samples + 1];
        for (var s = 0; s < latencies.Length; s++)
        {
            var clock = Stopwatch.StartNew();
            var result = syncer.Sync(tracker.Commit(), fullResync: true);
            latencies[s] = clock.Elapsed.TotalMilliseconds;
            if (result.Applied.Count != 0 || result.Problems.Count > 0)
                throw new InvalidOperationException($"a full resync of unchanged maps applied {result.Applied.Count} writes with {result.Problems.Count} problems");
        }
        return new Measurement("ms", latencies[1..]);
    }
}
