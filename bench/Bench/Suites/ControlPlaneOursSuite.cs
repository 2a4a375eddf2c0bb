using System.Globalization;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Workload;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.Bench.Suites;

/// <summary>
/// Our control plane alone, quickly (<c>proxy-bench --only controlplane-ours</c>: no iptables baseline, which takes
/// minutes): cold programming at each size split into its stages (tracker <c>ReplaceAll</c>, <c>Commit</c>, the
/// Syncer's full sync into BPF maps) with the managed bytes each programming allocates, and the latency and
/// allocations of one EndpointSlice change. For profiling and before/after comparisons of the programming path.
/// </summary>
public sealed class ControlPlaneOursSuite : IBenchSuite
{
    private const double Megabyte = 1024 * 1024;
    private const int FullResyncSamples = 5;

    /// <summary>Service changes timed per run through the rebuild (each rebuilds all 10k Services: fewer than the incremental ones).</summary>
    private const int RebuildSamples = 50;

    public string Name => "controlplane-ours";

    public IReadOnlyList<ReportSection> Run(BenchContext context)
    {
        var settings = context.Settings;
        var warmUp = OurControlPlane.WarmUp(context);
        context.Progress($"controlplane-ours: warm-up programming (the first in this process if no suite ran before): {warmUp:F0} ms");

        var clusters = settings.ControlPlaneServiceCounts
            .Select(count => new SyntheticServices(count, settings.EndpointsPerService))
            .Select(cluster => (Cluster: cluster, Services: cluster.Services().ToList(), Slices: cluster.Slices().ToList()))
            .ToList();
        var costs = clusters.ToDictionary(entry => entry.Cluster.Count, _ => new List<ColdProgrammingCost>());
        // Each run visits every size, so load that comes and goes on the shared machine falls on all of them alike.
        for (var run = 0; run < settings.Runs; run++)
            foreach (var (cluster, services, slices) in clusters)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                var cost = OurControlPlane.ProgramCold(services, slices, settings.EndpointsPerService, withKernelFloor: true);
                costs[cluster.Count].Add(cost);
                context.Progress($"controlplane-ours: cold {cluster.Count:N0}, run {run + 1}: total {cost.TotalMs:F1} ms " +
                    $"(ReplaceAll {cost.ReplaceAllMs:F1}, Commit {cost.CommitMs:F1}, Sync {cost.SyncMs:F1}; GC paused {cost.GcPauseMs:F1}), " +
                    $"{cost.AllocatedBytes / Megabyte:F1} MB; kernel floor {cost.KernelFloorMs:F1} ms");
            }

        var cold = new List<ReportRow>();
        foreach (var (services, runs) in costs)
        {
            var label = $"{services:N0} Services × {settings.EndpointsPerService}";
            var allocated = Figure("MB", runs, cost => cost.AllocatedBytes / Megabyte);
            cold.Add(new ReportRow($"{label}: total", Figure("ms", runs, cost => cost.TotalMs), Target: services == 100_000 ? "≤ 2 s" : null));
            cold.Add(new ReportRow($"{label}: tracker `ReplaceAll`", Figure("ms", runs, cost => cost.ReplaceAllMs)));
            cold.Add(new ReportRow($"{label}: tracker `Commit` (the snapshot)", Figure("ms", runs, cost => cost.CommitMs)));
            cold.Add(new ReportRow($"{label}: `Syncer.Sync` (desired state, diff, kernel writes)", Figure("ms", runs, cost => cost.SyncMs)));
            cold.Add(new ReportRow($"{label}: of all that, the GC's pauses", Figure("ms", runs, cost => cost.GcPauseMs)));
            cold.Add(new ReportRow($"{label}: kernel floor: the same entries batch-written straight into fresh maps", Figure("ms", runs, cost => cost.KernelFloorMs!.Value)));
            cold.Add(new ReportRow($"{label}: managed bytes allocated", allocated,
                Detail: string.Create(CultureInfo.InvariantCulture, $"{allocated.Median * Megabyte / services / 1024:F2} KB per Service")));
        }

        var cluster10k = new SyntheticServices(settings.ChangeLatencyServices, settings.EndpointsPerService);
        var random = new Random(6);
        var changeRuns = new List<ChangeRun>();
        for (var run = 0; run < settings.Runs; run++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var change = OurControlPlane.ChangeEndpoints(cluster10k, settings.ChangeLatencySamples, random);
            changeRuns.Add(change);
            context.Progress($"controlplane-ours: change at {cluster10k.Count:N0}, run {run + 1}: p50 {change.Latencies.Percentile(0.5):F3} ms, " +
                $"p99 {change.Latencies.Percentile(0.99):F3} ms, {change.AllocatedBytesPerChange / 1024:F1} KB per change");
        }
        var resyncs = new List<Measurement>();
        for (var run = 0; run < settings.Runs; run++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            resyncs.Add(OurControlPlane.FullResyncs(cluster10k, FullResyncSamples));
            context.Progress($"controlplane-ours: at {cluster10k.Count:N0}, run {run + 1}: full resync p50 {resyncs[^1].Percentile(0.5):F1} ms");
        }

        // Each run times every kind of Service change both ways, so load that comes and goes falls on both paths alike.
        var kinds = Enum.GetValues<ServiceChange>();
        var incremental = kinds.ToDictionary(kind => kind, _ => new List<ChangeRun>());
        var rebuilt = kinds.ToDictionary(kind => kind, _ => new List<ChangeRun>());
        var rebuildSamples = Math.Min(RebuildSamples, settings.ChangeLatencySamples);
        for (var run = 0; run < settings.Runs; run++)
            foreach (var kind in kinds)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                incremental[kind].Add(OurControlPlane.ChangeServices(cluster10k, kind, settings.ChangeLatencySamples, incremental: true, random));
                rebuilt[kind].Add(OurControlPlane.ChangeServices(cluster10k, kind, rebuildSamples, incremental: false, random));
                context.Progress($"controlplane-ours: Service {kind} at {cluster10k.Count:N0}, run {run + 1}: incremental p50 " +
                    $"{incremental[kind][^1].Latencies.Percentile(0.5):F3} ms, p99 {incremental[kind][^1].Latencies.Percentile(0.99):F3} ms, " +
                    $"{incremental[kind][^1].AllocatedBytesPerChange / 1024:F1} KB per change; rebuild p50 " +
                    $"{rebuilt[kind][^1].Latencies.Percentile(0.5):F1} ms, p99 {rebuilt[kind][^1].Latencies.Percentile(0.99):F1} ms, " +
                    $"{rebuilt[kind][^1].AllocatedBytesPerChange / 1024:F0} KB per change");
            }
        var serviceRows = new List<ReportRow>();
        foreach (var kind in kinds)
        {
            var what = kind switch
            {
                ServiceChange.Add => "one Service added",
                ServiceChange.Edit => "one Service's port changed",
                _ => "one Service deleted",
            };
            foreach (var (percentile, name) in new[] { (0.5, "p50"), (0.99, "p99") })
            {
                var ours = Figure("ms", incremental[kind], run => run.Latencies.Percentile(percentile));
                var before = Figure("ms", rebuilt[kind], run => run.Latencies.Percentile(percentile));
                serviceRows.Add(new ReportRow($"{cluster10k.Count:N0} Services: {what} → map writes, rebuild (the path before), {name}", before));
                serviceRows.Add(new ReportRow($"{cluster10k.Count:N0} Services: {what} → map writes, incremental, {name}", ours,
                    $"rebuild {before.Format()}", before.Median / ours.Median, percentile == 0.99 ? "p99 ≤ 1 ms" : null));
            }
            var bytes = Figure("KB", incremental[kind], run => run.AllocatedBytesPerChange / 1024);
            var bytesBefore = Figure("KB", rebuilt[kind], run => run.AllocatedBytesPerChange / 1024);
            serviceRows.Add(new ReportRow($"{cluster10k.Count:N0} Services: {what}, managed bytes allocated per change, incremental", bytes,
                $"rebuild {bytesBefore.Format()}", bytesBefore.Median / bytes.Median));
        }
        var changeLabel = $"{cluster10k.Count:N0} Services";
        var changes = new List<ReportRow>
        {
            new($"{changeLabel}: endpoint change → map write, p50", Figure("ms", changeRuns, change => change.Latencies.Percentile(0.5))),
            new($"{changeLabel}: endpoint change → map write, p99", Figure("ms", changeRuns, change => change.Latencies.Percentile(0.99)), Target: "p99 ≤ 10 ms"),
            new($"{changeLabel}: managed bytes allocated per change", Figure("KB", changeRuns, change => change.AllocatedBytesPerChange / 1024)),
            new($"{changeLabel}: periodic full resync, nothing changed (maps re-read), p50", Figure("ms", resyncs, latencies => latencies.Percentile(0.5))),
        };

        return
        [
            new ReportSection("Control plane, ours alone: cold programming by stage", ColdMethod(settings), cold),
            new ReportSection("Control plane, ours alone: one EndpointSlice change", ChangeMethod(settings), changes),
            new ReportSection("Control plane, ours alone: one Service added, changed or deleted", ServiceChangeMethod(settings, rebuildSamples), serviceRows),
        ];
    }

    private static Measurement Figure<T>(string unit, IEnumerable<T> runs, Func<T, double> value) => new(unit, runs.Select(value).ToArray());

    private static string ColdMethod(BenchSettings settings) =>
        "The cold programming of the `controlplane` suite without its iptables baseline, split into its stages: a fresh dataplane " +
        "(maps sized to fit) and a full garbage collection, then timed: tracker `ReplaceAll` of the already parsed objects, `Commit` " +
        "(the snapshot), and the Syncer's first full sync (desired state, diff, batched writes into the BPF maps). Managed bytes: " +
        "`GC.GetTotalAllocatedBytes(precise: true)` across the timed part; GC pauses: `GC.GetTotalPauseDuration()` across it. " +
        "Kernel floor: afterwards (untimed) the programmed entries are read back and, timed, written into a second fresh dataplane with " +
        "`BPF_MAP_UPDATE_BATCH` calls of 4,096 entries, backends then frontends: what any control plane pays the kernel for them. One untimed programming of a small cluster first (JIT); " +
        $"each of the {settings.Runs} runs visits every size in turn.";

    private static string ChangeMethod(BenchSettings settings) =>
        $"As in the `controlplane` suite: {settings.ChangeLatencyServices:N0} Services × {settings.EndpointsPerService} programmed, then " +
        $"{settings.ChangeLatencySamples} changes per run (after {OurControlPlane.ChangeWarmUp} untimed ones), each replacing the last endpoint of a " +
        "random Service's slice; timed: `Commit` and the incremental `Sync` (one backend write). Per run its p50 and p99 and the mean managed " +
        "bytes allocated per change; the table shows the median (min–max) over the runs. Then the path that rebuilds everything, on a " +
        $"fresh programmed cluster per run: {FullResyncSamples} periodic full resyncs with nothing changed (both maps re-read from the kernel, " +
        "everything rebuilt and diffed, nothing written); one untimed sample first; the p50 per run.";

    private static string ServiceChangeMethod(BenchSettings settings, int rebuildSamples) =>
        $"{settings.ChangeLatencyServices:N0} Services × {settings.EndpointsPerService} programmed into fresh, sized BPF maps by a Syncer that also keeps " +
        "the source-range and service-name maps, as the daemon's does; then, one at a time (after " +
        $"{OurControlPlane.ChangeWarmUp} untimed ones), a Service **added** (a new name and ClusterIP with its slice of {settings.EndpointsPerService} " +
        $"endpoints: {settings.EndpointsPerService} backends, 1 frontend and its name written), a random Service's **port changed** (80 ↔ 81: the new " +
        "frontend written, the old one deleted, the backends kept), or a random Service **deleted** with its slice (its frontend and backends deleted, " +
        "then its name). Untimed: the source's part (the tracker's upserts and deletes); timed: `Commit` and the `Sync` of the commit, which must " +
        "apply exactly those NAT writes, without a problem. **Incremental**: the daemon's triggered sync of the commit, which must take the incremental " +
        "path (`ServiceChangeBuilder`: only the changed Service rebuilt and diffed); " +
        $"{settings.ChangeLatencySamples} changes per run. **Rebuild (the path before)**: the same changes synced as every Service change was " +
        "before that path existed, the whole desired state rebuilt and diffed against the kept view (`Sync(snapshot, fullResync: false)`: no re-read " +
        $"of the maps), on the same kind of cluster; {rebuildSamples} changes per run. A fresh programmed cluster for each kind, path and run; each run " +
        "times every kind both ways in turn. After programming, one compacting full garbage collection, as the daemon's `HeapReclaimer` runs after " +
        "its first sync (the programming's garbage is not collected inside the timed changes). Per run the p50 and p99 (nearest rank) of its changes " +
        "and the mean managed bytes allocated per change (`GC.GetTotalAllocatedBytes(precise: true)` around the timed part); the table shows the " +
        "median (min–max) over the runs; the ratio is the rebuild's median over the incremental path's. The sync runner's interval and the source's " +
        "latency are not included.";
}
