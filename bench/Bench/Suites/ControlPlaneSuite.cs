using System.Net;
using ProxyReplacement.Bench.Baseline;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Workload;

namespace ProxyReplacement.Bench.Suites;

/// <summary>
/// Control-plane speed: cold programming of N Services × M endpoints through the real tracker and Syncer into
/// real BPF maps, and the latency of one EndpointSlice change; beside each, kube-proxy's iptables way of doing
/// the same (<see cref="KubeProxyRuleset"/> restored into a scratch namespace), for both iptables backends.
/// </summary>
public sealed class ControlPlaneSuite : IBenchSuite
{
    public string Name => "controlplane";

    public IReadOnlyList<ReportSection> Run(BenchContext context)
    {
        var settings = context.Settings;
        var scratch = Directory.CreateTempSubdirectory("prt-bench-ipt-");
        try
        {
            var cold = new List<ReportRow>();
            OurControlPlane.WarmUp(context);
            foreach (var services in settings.ControlPlaneServiceCounts)
                cold.AddRange(ColdRows(context, services, scratch.FullName));
            var change = ChangeRows(context, scratch.FullName);
            return
            [
                new ReportSection("Control plane: cold programming", ColdMethod(settings), cold),
                new ReportSection("Control plane: one EndpointSlice change", ChangeMethod(settings), change),
            ];
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
    }

    private static IEnumerable<ReportRow> ColdRows(BenchContext context, int services, string scratch)
    {
        var settings = context.Settings;
        var cluster = new SyntheticServices(services, settings.EndpointsPerService);
        var label = $"{services:N0} Services × {settings.EndpointsPerService}";
        var serviceObjects = cluster.Services().ToList();
        var sliceObjects = cluster.Slices().ToList();

        var ours = Measurement.Repeat("ms", settings.Runs, run =>
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var elapsed = OurControlPlane.ProgramCold(serviceObjects, sliceObjects, settings.EndpointsPerService).TotalMs;
            context.Progress($"controlplane: cold {label}, run {run + 1}: Syncer {elapsed:F0} ms");
            return elapsed;
        });

        var rules = Path.Combine(scratch, $"full-{services}.rules");
        using (var writer = new StreamWriter(rules))
            new KubeProxyRuleset(cluster).WriteFull(writer);
        var ruleCount = File.ReadLines(rules).Count(line => line.StartsWith("-A ", StringComparison.Ordinal));

        yield return new ReportRow($"{label}: tracker + Syncer → BPF maps", ours, Target: services == 100_000 ? "≤ 2 s" : null);
        foreach (var backend in new[] { IptablesBackend.Legacy, IptablesBackend.Nft })
        {
            if (backend == IptablesBackend.Nft && services > settings.IptablesNftMaxServices)
                continue;
            var runs = services > settings.IptablesNftMaxServices ? Math.Min(settings.Runs, settings.IptablesRunsAtLargeSizes) : settings.Runs;
            var restore = Measurement.Repeat("ms", runs, run =>
            {
                context.Cancellation.ThrowIfCancellationRequested();
                using var table = new IptablesScratch(backend);
                var elapsed = table.Restore(rules, noFlush: false, context.Cancellation).TotalMilliseconds;
                if (run == 0 && table.NatRuleCount(context.Cancellation) < ruleCount - 16)
                    throw new InvalidOperationException($"{IptablesScratch.RestoreBinary(backend)} did not load the {ruleCount} rules");
                context.Progress($"controlplane: cold {label}, run {run + 1}: {IptablesScratch.RestoreBinary(backend)} {elapsed:F0} ms");
                return elapsed;
            });
            var runNote = runs < settings.Runs ? $" — {runs} run{(runs == 1 ? "" : "s")} only, see above" : "";
            yield return ReportRow.Versus($"{label}: `{IptablesScratch.RestoreBinary(backend)}` of kube-proxy's ruleset ({ruleCount:N0} rules){runNote}",
                restore, "ours", ours, "ours ≥ 20× faster");
        }
        File.Delete(rules);
    }

    private static List<ReportRow> ChangeRows(BenchContext context, string scratch)
    {
        var settings = context.Settings;
        var services = settings.ChangeLatencyServices;
        var cluster = new SyntheticServices(services, settings.EndpointsPerService);
        var label = $"{services:N0} Services";
        var random = new Random(6);

        // ours: one programmed cluster per run; each sample replaces the last endpoint of a random Service
        var p50 = new List<double>();
        var p99 = new List<double>();
        for (var run = 0; run < settings.Runs; run++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var latencies = OurControlPlane.ChangeEndpoints(cluster, settings.ChangeLatencySamples, random).Latencies;
            p50.Add(latencies.Percentile(0.5));
            p99.Add(latencies.Percentile(0.99));
            context.Progress($"controlplane: change at {label}, run {run + 1}: p50 {p50[^1]:F2} ms, p99 {p99[^1]:F2} ms");
        }
        var oursP50 = new Measurement("ms", p50);
        var oursP99 = new Measurement("ms", p99);
        var rows = new List<ReportRow>
        {
            new($"{label}: endpoint change → map write, p50", oursP50),
            new($"{label}: endpoint change → map write, p99", oursP99, Target: "p99 ≤ 10 ms"),
        };

        var rules = Path.Combine(scratch, $"change-base-{services}.rules");
        var ruleset = new KubeProxyRuleset(cluster);
        using (var writer = new StreamWriter(rules))
            ruleset.WriteFull(writer);
        foreach (var backend in new[] { IptablesBackend.Legacy, IptablesBackend.Nft })
        {
            if (backend == IptablesBackend.Nft && services > settings.IptablesNftMaxServices)
                continue;
            var ipP50 = new List<double>();
            var ipP99 = new List<double>();
            for (var run = 0; run < settings.Runs; run++)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                using var table = new IptablesScratch(backend);
                table.Restore(rules, noFlush: false, context.Cancellation);
                var current = Enumerable.Range(0, services).ToDictionary(i => i, i => Endpoints(cluster, i, 0));
                var generation = new int[services];
                var samples = new double[settings.IptablesChangeSamples];
                for (var s = 0; s < samples.Length; s++)
                {
                    var index = random.Next(services);
                    var after = Endpoints(cluster, index, ++generation[index]);
                    var change = Path.Combine(scratch, "change.rules");
                    using (var writer = new StreamWriter(change))
                        ruleset.WriteEndpointChange(writer, index, current[index], after);
                    current[index] = after;
                    samples[s] = table.Restore(change, noFlush: true, context.Cancellation).TotalMilliseconds;
                }
                var latencies = new Measurement("ms", samples);
                ipP50.Add(latencies.Percentile(0.5));
                ipP99.Add(latencies.Percentile(0.99));
                context.Progress($"controlplane: change at {label}, run {run + 1}: {IptablesScratch.RestoreBinary(backend)} p50 {ipP50[^1]:F0} ms");
            }
            var binary = IptablesScratch.RestoreBinary(backend);
            var b50 = new Measurement("ms", ipP50);
            var b99 = new Measurement("ms", ipP99);
            rows.Add(ReportRow.Versus($"{label}: `{binary} --noflush` of the changed chains, p50", b50, "ours p50", oursP50, "ours ≥ 20× faster"));
            rows.Add(ReportRow.Versus($"{label}: `{binary} --noflush` of the changed chains, p99", b99, "ours p99", oursP99, "ours ≥ 20× faster"));
        }
        File.Delete(rules);
        return rows;
    }

    /// <summary>The endpoints of Service <paramref name="index"/> at a change generation, as <see cref="SyntheticServices.Slice"/> has them.</summary>
    private static List<IPAddress> Endpoints(SyntheticServices cluster, int index, int generation) =>
        cluster.Slice(index, generation).Endpoints.Select(endpoint => endpoint.Addresses[0]).ToList();

    private static string ColdMethod(BenchSettings settings) =>
        $"**Ours**: a fresh dataplane (maps sized to fit: 100k × 4 = 400k backends exceed the default 262,144), then the timed part: " +
        "the Service and EndpointSlice objects (already parsed, as a source delivers them) go into the ChangeTracker (`ReplaceAll`, " +
        "`Commit`: the snapshot), and the Syncer's first, full sync builds the desired state, diffs it against the (empty) maps and " +
        "writes every backend and frontend into the kernel. Each run starts from new maps, after a full garbage collection; the frontend count is checked afterwards. " +
        "Before the first size, one untimed programming of a small cluster compiles the code path (the daemon pays the JIT once at start, not per sync). " +
        "**Baseline**: kube-proxy's iptables-mode ruleset for the same Services (see `bench/Bench/Baseline/KubeProxyRuleset.cs`: " +
        "KUBE-SERVICES with a rule per service port, a KUBE-SVC chain per service with `statistic --mode random --probability` rules, " +
        "a KUBE-SEP chain per endpoint with the hairpin mark and the DNAT, KUBE-MARK-MASQ / KUBE-POSTROUTING, and the filter table's " +
        "KUBE-FORWARD), restored in one `iptables-restore` into a fresh scratch network namespace (the host's tables are never " +
        "touched). The ratio is iptables' time over ours. Timed: the iptables-restore process from start to exit (including any wait " +
        "for the host-wide xtables lock, which nothing else should hold during a benchmark), run through `ip netns exec` (a few ms of that are the " +
        "exec itself); not timed: generating the text, which kube-proxy also has to do. Both Debian backends: `iptables-legacy-restore` " +
        $"(x_tables) and `iptables-nft-restore` (nf_tables, Debian's default); the nft one only up to {settings.IptablesNftMaxServices:N0} " +
        "Services, because its restore time grows much faster than linearly (one measurement of 100k while writing this harness: " +
        "366 s and 3.2 GB peak RSS, with comments on every rule), which would make the run take an hour. Above " +
        $"{settings.IptablesNftMaxServices:N0} Services even the legacy restore takes minutes, so it runs {settings.IptablesRunsAtLargeSizes} " +
        "time(s) there instead of the usual count (its row says so). As kube-proxy does above 1,000 endpoints (its \"large cluster mode\"), " +
        "the per-endpoint rules carry no comments; with them, the legacy restore of 100k Services × 4 failed at COMMIT (the table blob " +
        "is then likely beyond x_tables' 512 MiB table size limit).";

    private static string ChangeMethod(BenchSettings settings) =>
        $"**Ours**: {settings.ChangeLatencyServices:N0} Services × {settings.EndpointsPerService} programmed, then " +
        $"{settings.ChangeLatencySamples} times per run (after {OurControlPlane.ChangeWarmUp} untimed warm-up changes) one EndpointSlice of a random Service gets its last endpoint replaced " +
        "(`ChangeTracker.UpsertEndpointSlice`, untimed: that is the source's part) and the timed part follows: `Commit` (the new " +
        "snapshot), then an incremental `Syncer.Sync` (desired state of the changed Service, diff, the one backend write into the BPF map). " +
        "Each change must apply exactly one map write. Not included: the sync runner's deliberate min-interval coalescing (the daemon's " +
        "`--min-sync-interval`, 1 ms by default, which batches bursts of changes; the `latency` suite measures it with the daemon), and the source's own latency. A run reports the " +
        "p50 and p99 of its changes; the table shows the median (min–max) of those over the runs. " +
        "**Baseline**: the same change the kube-proxy way, in a scratch namespace holding the full ruleset: one `iptables-restore " +
        "--noflush` with the filter chains and the fixed nat chains, the whole KUBE-SERVICES chain, the changed KUBE-SVC chain, the " +
        $"new KUBE-SEP chain and `-X` of the stale one ({settings.IptablesChangeSamples} changes per run: each costs a round trip of the " +
        "whole table through the kernel).";
}
