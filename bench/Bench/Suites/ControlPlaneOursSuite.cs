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
    private const int AddedServices = 20;
    private const int FullResyncSamples = 5;

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
        var added = new List<Measurement>();
        var resyncs = new List<Measurement>();
        for (var run = 0; run < settings.Runs; run++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            added.Add(OurControlPlane.AddServices(cluster10k, AddedServices));
            resyncs.Add(OurControlPlane.FullResyncs(cluster10k, FullResyncSamples));
            context.Progress($"controlplane-ours: at {cluster10k.Count:N0}, run {run + 1}: Service added p50 {added[^1].Percentile(0.5):F2} ms, " +
                $"full resync p50 {resyncs[^1].Percentile(0.5):F1} ms");
        }
        var changeLabel = $"{cluster10k.Count:N0} Services";
        var changes = new List<ReportRow>
        {
            new($"{changeLabel}: endpoint change → map write, p50", Figure("ms", changeRuns, change => change.Latencies.Percentile(0.5))),
            new($"{changeLabel}: endpoint change → map write, p99", Figure("ms", changeRuns, change => change.Latencies.Percentile(0.99)), Target: "p99 ≤ 10 ms"),
            new($"{changeLabel}: managed bytes allocated per change", Figure("KB", changeRuns, change => change.AllocatedBytesPerChange / 1024)),
            new($"{changeLabel}: one Service added (full rebuild, incremental sync), p50", Figure("ms", added, latencies => latencies.Percentile(0.5))),
            new($"{changeLabel}: periodic full resync, nothing changed (maps re-read), p50", Figure("ms", resyncs, latencies => latencies.Percentile(0.5))),
        };

        return
        [
            new ReportSection("Control plane, ours alone: cold programming by stage", ColdMethod(settings), cold),
            new ReportSection("Control plane, ours alone: one EndpointSlice change", ChangeMethod(settings), changes),
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
        "bytes allocated per change; the table shows the median (min–max) over the runs. Then the paths that rebuild everything, on a " +
        $"fresh programmed cluster per run: {AddedServices} Services added one at a time (`Commit` + `Sync`: a Service added rebuilds the whole " +
        $"desired state and writes its 5 entries), and {FullResyncSamples} periodic full resyncs with nothing changed (both maps re-read from the kernel, " +
        "everything rebuilt and diffed, nothing written); one untimed sample first in each; the p50 per run.";
}
