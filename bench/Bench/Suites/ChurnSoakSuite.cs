using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Suites.Churn;
using ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi;

namespace ProxyReplacement.Bench.Suites;

/// <summary>
/// The churn soak (issue #16 item 7): the real daemon with 10k Services takes 100 changes a second (endpoint changes,
/// readiness flips, scaling, port changes, Services added and deleted) for 10 minutes, through the manifest directory and
/// through the fake API server. Sampled every 10 s: RSS, GC heap, CPU, the exact duration of every sync (its log), map
/// entries. At the end the maps must equal the model (<c>service-proxy dump -o json</c>). Reported per minute, with the
/// verdict: flat RSS (last minute within 10 % of the second) and a stable p99 (no upward trend).
/// </summary>
public sealed class ChurnSoakSuite : IBenchSuite
{
    /// <summary>Ticks of the change generator per second: the changes of a tick are published together.</summary>
    private const int TicksPerSecond = 10;

    /// <summary>How often VmRSS alone is read (the full samples, with /metrics, come every <see cref="ChurnSoakSettings.SampleInterval"/>).</summary>
    private static readonly TimeSpan RssInterval = TimeSpan.FromSeconds(1);

    public string Name => "churn-soak";

    public IReadOnlyList<ReportSection> Run(BenchContext context)
    {
        var settings = WithOverrides(context.Settings.ChurnSoak);
        var sections = new List<ReportSection>();
        foreach (var source in settings.Sources)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            sections.Add(Soak(source, settings, first: sections.Count == 0, context));
        }
        return sections;
    }

    /// <summary>
    /// <c>PR_BENCH_SOAK_DURATION</c> (seconds), <c>PR_BENCH_SOAK_SOURCES</c> (<c>manifest</c>, <c>api</c>, comma-separated) and
    /// <c>PR_BENCH_SOAK_MIX</c> (<c>standard</c>, <c>endpoints-only</c>): a shorter, single-source or endpoint-only soak while working on
    /// it. The report says what ran.
    /// </summary>
    private static ChurnSoakSettings WithOverrides(ChurnSoakSettings settings)
    {
        if (Environment.GetEnvironmentVariable("PR_BENCH_SOAK_DURATION") is { Length: > 0 } duration)
            settings = settings with { Duration = TimeSpan.FromSeconds(double.Parse(duration, CultureInfo.InvariantCulture)) };
        if (Environment.GetEnvironmentVariable("PR_BENCH_SOAK_MIX") is { Length: > 0 } mix)
            settings = settings with
            {
                EndpointsOnly = mix switch
                {
                    "endpoints-only" => true,
                    "standard" => false,
                    _ => throw new ArgumentException($"PR_BENCH_SOAK_MIX: unknown mix '{mix}' (standard, endpoints-only)"),
                },
            };
        if (Environment.GetEnvironmentVariable("PR_BENCH_SOAK_SOURCES") is { Length: > 0 } sources)
            settings = settings with
            {
                Sources = sources.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(name => name switch
                    {
                        "manifest" => ChurnSource.ManifestDirectory,
                        "api" => ChurnSource.KubernetesApi,
                        _ => throw new ArgumentException($"PR_BENCH_SOAK_SOURCES: unknown source '{name}' (manifest, api)"),
                    })
                    .ToList(),
            };
        return settings;
    }

    private static ReportSection Soak(ChurnSource source, ChurnSoakSettings settings, bool first, BenchContext context)
    {
        var label = source == ChurnSource.ManifestDirectory ? "manifest directory" : "Kubernetes API (fake server)";
        var tag = source == ChurnSource.ManifestDirectory ? "manifest" : "api";
        var cluster = new ChurnCluster(settings.Services, settings.EndpointsPerService, settings.Seed,
            settings.EndpointsOnly ? ChurnCluster.EndpointsOnlyMix : ChurnCluster.Mix);
        var work = Directory.CreateTempSubdirectory("prt-bench-soak-");
        try
        {
            var store = source == ChurnSource.KubernetesApi ? new FakeApiStore() : null;
            store?.Put(FakeApiStore.Nodes, ApiJson.Node("bench", "192.168.0.1"));
            IChurnTarget target = store is null ? new ManifestChurnTarget(Path.Combine(work.FullName, "manifests")) : new ApiChurnTarget(store);
            target.WriteAll(cluster);
            context.Progress($"churn-soak ({tag}): starting the daemon with {cluster.PresentCount:N0} Services");
            using var daemon = SoakDaemon.Start(source, work.FullName, (target as ManifestChurnTarget)?.Directory, store, cluster.PresentCount,
                cluster.Pool.Count, context);
            context.Progress($"churn-soak ({tag}): first sync done; settling {settings.Settle.TotalSeconds:F0} s");
            context.Cancellation.WaitHandle.WaitOne(settings.Settle);
            context.Cancellation.ThrowIfCancellationRequested();

            var churnStarted = Stopwatch.GetTimestamp();
            var recorder = new SoakRecorder(churnStarted, settings.Period, settings.Duration);
            recorder.Add(Sample(daemon, 0, 0), daemon.TakeSyncs());
            var churn = new ChurnRunner(cluster, target, settings.ChangesPerSecond, settings.Duration, churnStarted, context.Cancellation);
            var thread = new Thread(churn.Run) { IsBackground = true, Name = "churn" };
            thread.Start();
            try
            {
                var nextRss = RssInterval;
                for (var next = settings.SampleInterval; next <= settings.Duration; next += settings.SampleInterval)
                {
                    // VmRSS every second in between (a cheap read; the GC's sawtooth makes single readings noisy)
                    for (; nextRss < next; nextRss += RssInterval)
                    {
                        WaitUntil(churnStarted, nextRss, context.Cancellation);
                        if (!daemon.HasExited)
                            recorder.AddRss(Stopwatch.GetElapsedTime(churnStarted).TotalSeconds, daemon.RssKib());
                    }
                    WaitUntil(churnStarted, next, context.Cancellation);
                    nextRss = next + RssInterval;
                    churn.ThrowIfFailed();
                    if (daemon.HasExited)
                        throw new InvalidOperationException($"the daemon exited during the soak: {Tail(daemon.Output)}");
                    var sample = Sample(daemon, Stopwatch.GetElapsedTime(churnStarted).TotalSeconds, churn.Made);
                    var syncs = daemon.TakeSyncs();
                    recorder.Add(sample, syncs);
                    var triggered = syncs.Where(sync => !sync.Full).Select(sync => sync.Milliseconds).ToList();
                    context.Progress(string.Create(CultureInfo.InvariantCulture,
                        $"churn-soak ({tag}): {sample.Seconds,5:F0} s: RSS {sample.RssKib / 1024.0:F1} MiB, GC heap {sample.GcHeapBytes / 1048576.0:F1} MiB, " +
                        $"{triggered.Count} triggered syncs (max {(triggered.Count > 0 ? triggered.Max() : 0):F1} ms), " +
                        $"{syncs.Count(sync => sync.Full)} full, {sample.ChangesMade:N0} changes, load {sample.Load1:F2}"));
                }
            }
            finally
            {
                churn.Stop();
                thread.Join();
            }
            churn.ThrowIfFailed();
            var changesMade = churn.Made;
            var churnSeconds = Stopwatch.GetElapsedTime(churnStarted).TotalSeconds;

            // The end: the maps must come to equal the model (the last triggered sync, at worst the next full resync).
            var expected = cluster.Expected();
            var converging = Stopwatch.StartNew();
            EndState state;
            while (true)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                state = EndStateCheck.Read(daemon.PinRoot, expected, context.Cancellation);
                if (state.Equal || converging.Elapsed > settings.ConvergeTimeout)
                    break;
                context.Cancellation.WaitHandle.WaitOne(TimeSpan.FromSeconds(2));
            }
            var converged = converging.Elapsed.TotalSeconds;
            context.Progress($"churn-soak ({tag}): end state after {converged:F1} s: {state.Describe()}");
            recorder.Add(Sample(daemon, Stopwatch.GetElapsedTime(churnStarted).TotalSeconds, changesMade), daemon.TakeSyncs());

            var csv = Path.Combine(RepositoryRoot, "artifacts", $"churn-soak-{tag}{(context.Settings.Smoke ? "-smoke" : "")}.csv");
            recorder.WriteCsv(csv);
            if (!state.Equal)
                throw new InvalidOperationException(
                    $"churn soak ({label}): {converged:F0} s after the last change the maps still differ from the model: {state.Describe()} (samples: {csv})");
            return Report(source, settings, first, label, cluster, recorder, state, converged, changesMade, churnSeconds, daemon, csv, context);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private static void WaitUntil(long started, TimeSpan at, CancellationToken cancellation)
    {
        var wait = at - Stopwatch.GetElapsedTime(started);
        if (wait > TimeSpan.Zero)
            cancellation.WaitHandle.WaitOne(wait);
        cancellation.ThrowIfCancellationRequested();
    }

    private static SoakSample Sample(SoakDaemon daemon, double seconds, long changesMade)
    {
        var rss = daemon.RssKib();
        var (anon, file, shmem) = (daemon.StatusField("RssAnon"), daemon.StatusField("RssFile"), daemon.StatusField("RssShmem"));
        var metrics = daemon.Scrape();
        return new SoakSample(seconds, rss, anon, file, shmem,
            metrics?.Value("dotnet_total_memory_bytes"),
            metrics?.Value("dotnet_collection_count_total", "generation=\"0\""),
            metrics?.Value("dotnet_collection_count_total", "generation=\"1\""),
            metrics?.Value("dotnet_collection_count_total", "generation=\"2\""),
            metrics?.Value("process_cpu_seconds_total"),
            metrics?.Histogram("kubeproxy_network_programming_duration_seconds") ?? HistogramSnapshot.Empty,
            metrics?.Value("proxyreplacement_map_entries", "map=\"pr_nat_fe4\""),
            metrics?.Value("proxyreplacement_map_entries", "map=\"pr_nat_be4\""),
            metrics?.Value("process_num_threads"),
            metrics?.Value("process_open_fds"),
            metrics?.Value("proxyreplacement_sync_problems_total"),
            changesMade, daemon.Reloads, LoadAverage());
    }

    private static ReportSection Report(ChurnSource source, ChurnSoakSettings settings, bool first, string label, ChurnCluster cluster,
        SoakRecorder recorder, EndState state, double converged, long changesMade, double churnSeconds, SoakDaemon daemon, string csv, BenchContext context)
    {
        var periods = recorder.Periods();
        var rows = new List<ReportRow>();
        var notes = new List<string>();
        var periodName = settings.Period == TimeSpan.FromMinutes(1) ? "minute" : $"{settings.Period.TotalSeconds:F0} s period";
        string verdict;
        if (periods.Count < 3)
        {
            verdict = $"Too short for a verdict ({periods.Count} periods).";
        }
        else
        {
            var second = periods[1];
            var last = periods[^1];
            var rssRatio = last.Rss!.Median / second.Rss!.Median;
            rows.Add(ReportRow.Versus($"daemon RSS, last {periodName} (median of its samples)", last.Rss, $"second {periodName}", second.Rss,
                "within ±10 % (flat)", string.Create(CultureInfo.InvariantCulture,
                    $"highest reading of the soak {recorder.RssMib.Max():F1} MiB")));
            if (last.GcHeap is { } lastHeap && second.GcHeap is { } secondHeap)
                rows.Add(ReportRow.Versus($"GC heap (`dotnet_total_memory_bytes`), last {periodName}", lastHeap, $"second {periodName}", secondHeap));

            // p99 of the triggered syncs, per period from the second on: the trend is the Theil–Sen slope over them
            var p99s = periods.Skip(1).Where(p => p.Triggered.Count > 0)
                .Select(p => (X: (double)p.Number, Y: p.TriggeredP(0.99)!.Value)).ToList();
            var slope = SoakRecorder.TheilSen(p99s) ?? 0;
            var medianP99 = new Measurement("ms", p99s.Select(point => point.Y).ToList()).Median;
            var rise = slope * (p99s.Count - 1);
            var p99Stable = rise <= 0.25 * medianP99;
            var lastP99 = P99(last);
            var secondP99 = P99(second);
            if (lastP99 is not null && secondP99 is not null)
                rows.Add(ReportRow.Versus($"triggered sync p99, last {periodName}", lastP99, $"second {periodName}", secondP99, "no upward trend",
                    string.Create(CultureInfo.InvariantCulture,
                        $"trend from the second {periodName} on (Theil–Sen): {slope:+0.0;-0.0;0} ms per {periodName}, {rise:+0;-0;0} ms over the soak " +
                        $"against a median p99 of {medianP99:F1} ms")));
            var fullMaxes = periods.Skip(1).Where(p => p.Full.Count > 0).Select(p => (X: (double)p.Number, Y: p.FullMax!.Value)).ToList();
            var fullSlope = SoakRecorder.TheilSen(fullMaxes);
            if (last.FullMax is { } lastFull && second.FullMax is { } secondFull)
                rows.Add(ReportRow.Versus($"slowest full resync, last {periodName}", new Measurement("ms", [lastFull]), $"second {periodName}",
                    new Measurement("ms", [secondFull]), detail: fullSlope is { } s
                        ? string.Create(CultureInfo.InvariantCulture, $"trend (Theil–Sen): {s:+0.0;-0.0;0} ms per {periodName}")
                        : null));
            var rssFlat = rssRatio is >= 0.9 and <= 1.1;
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"Where the RSS went from the second {periodName} to the last (medians of the {settings.SampleInterval.TotalSeconds:F0} s samples; " +
                $"/proc/PID/status): anonymous memory (GC heap, native allocations, stacks) {second.RssAnonMib:F1} → {last.RssAnonMib:F1} MiB " +
                $"({last.RssAnonMib - second.RssAnonMib:+0.0;-0.0;0}), file-backed pages (the runtime's and assemblies' code as it is touched) " +
                $"{second.RssFileMib:F1} → {last.RssFileMib:F1} MiB ({last.RssFileMib - second.RssFileMib:+0.0;-0.0;0}), shared memory (the runtime maps " +
                $"its JIT code twice through a memfd, W^X) {second.RssShmemMib:F1} → {last.RssShmemMib:F1} MiB ({last.RssShmemMib - second.RssShmemMib:+0.0;-0.0;0})."));
            verdict = string.Create(CultureInfo.InvariantCulture,
                $"**Verdict: RSS {(rssFlat ? "flat" : "NOT flat")}** (last {periodName}'s median {last.Rss.Median:F1} MiB is {(rssRatio - 1) * 100:+0.0;-0.0} % " +
                $"from the second's {second.Rss.Median:F1} MiB; the target is within ±10 %); **p99 {(p99Stable ? "stable" : "drifting upward")}** " +
                $"(the triggered syncs' p99 per {periodName} from the second on rises {rise:+0.0;-0.0;0} ms over the soak by its Theil–Sen trend, " +
                $"against a median of {medianP99:F1} ms; stable means a rise under 25 % of the median).");
        }
        rows.Add(new ReportRow("after the last change: maps equal to the model (`service-proxy dump -o json`)", new Measurement("s", [converged]),
            Detail: state.Describe()));
        var allTriggered = recorder.SyncsBetween(0, churnSeconds).Where(sync => !sync.Full).ToList();
        if (allTriggered.Count > 0)
            rows.Add(new ReportRow("writes per triggered sync (median over the soak)", new Measurement("writes", allTriggered.Select(sync => (double)sync.Writes).ToList())));

        notes.Add(verdict);
        notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"Changes made: {changesMade:N0} in {churnSeconds:F0} s ({changesMade / Math.Max(1, settings.Duration.TotalSeconds):F1}/s against {settings.ChangesPerSecond}/s asked): ") +
            string.Join(", ", cluster.Counts.Select(pair => $"{Kind(pair.Key)} {pair.Value:N0}")) +
            string.Create(CultureInfo.InvariantCulture, $"; {cluster.PresentCount:N0} Services at the end."));
        notes.Add(daemon.WarningCount == 0
            ? "The daemon logged no warning or error during the soak."
            : $"The daemon logged {daemon.WarningCount} warnings or errors; the first: {string.Join(" | ", daemon.Warnings.Take(3))}");
        notes.Add($"Every sample (each {settings.SampleInterval.TotalSeconds:F0} s) is in `{Path.GetRelativePath(RepositoryRoot, csv)}` (not committed).");
        var syncsPerPeriod = new Measurement("syncs", periods.Select(p => (double)p.Triggered.Count).DefaultIfEmpty(0).ToList()).Median;
        var method = Method(source, settings, first, syncsPerPeriod, context.Settings.Smoke) + "\n\n" + recorder.Table(periods, source == ChurnSource.ManifestDirectory);
        return new ReportSection($"Churn soak: {settings.Services:N0} Services, {settings.ChangesPerSecond} changes/s for {Duration(settings.Duration)} ({label} source)",
            method, rows, notes);
    }

    private static Measurement? P99(SoakPeriod period) => period.TriggeredP(0.99) is { } p99 ? new Measurement("ms", [p99]) : null;

    private static string Kind(ChurnKind kind) => kind switch
    {
        ChurnKind.EndpointReplaced => "endpoint replaced",
        ChurnKind.EndpointScaled => "endpoint added or removed",
        ChurnKind.ReadinessFlipped => "readiness flipped",
        ChurnKind.PortChanged => "Service port changed",
        ChurnKind.ServiceAddedOrDeleted => "Service added or deleted",
        _ => kind.ToString(),
    };

    private static string Duration(TimeSpan duration) =>
        duration.TotalSeconds % 60 == 0 ? $"{duration.TotalMinutes:F0} min" : $"{duration.TotalSeconds:F0} s";

    private static string Method(ChurnSource source, ChurnSoakSettings settings, bool first, double syncsPerPeriod, bool smoke)
    {
        var mix = (settings.EndpointsOnly ? "**endpoint changes only** (`PR_BENCH_SOAK_MIX=endpoints-only`): " : "") +
                  string.Join(", ", (settings.EndpointsOnly ? ChurnCluster.EndpointsOnlyMix : ChurnCluster.Mix).Select(entry => $"{entry.Percent} % {Kind(entry.Kind)}"));
        var period = settings.Period == TimeSpan.FromMinutes(1) ? "minute" : "period";
        var topRank = Math.Max(1, (int)syncsPerPeriod - (int)Math.Ceiling(0.99 * syncsPerPeriod) + 1);
        var common = !first
            ? "As the soak above (same Services, mix, seed, rate, sampling, sync figures and end check), through another source."
            : $"The real daemon (`bin/service-proxy run`, the published build, default sync intervals: a sync at most every 1 ms; every 30 s a drift check beside the sync loop, which turns into a full resync on drift, or when changes have overtaken every check for two periods) " +
              $"in a scratch network namespace with a private bpffs, programming {settings.Services:N0} ClusterIP Services × {settings.EndpointsPerService} endpoints " +
              $"(one EndpointSlice each), then taking {settings.ChangesPerSecond} changes a second for {Duration(settings.Duration)}, published in " +
              $"{TicksPerSecond} batches a second. The mix (seeded, the same every run): {mix}. Endpoint changes and readiness flips pick a random present Service; " +
              $"scaling keeps 1–{ChurnCluster.MaxEndpoints} endpoints; a port change moves the frontend (80 ↔ 81); adds and deletes keep the count near " +
              $"{settings.Services:N0} (a pool of {settings.Services + Math.Max(2, settings.Services / 20):N0} names). Every slice change carries " +
              "`endpoints.kubernetes.io/last-change-trigger-time`, so the daemon's `kubeproxy_network_programming_duration_seconds` times change → map write " +
              "(the column shows the upper bound of the histogram bucket holding the p99). " +
              $"The harness reads VmRSS (/proc/PID/status) every second and every {settings.SampleInterval.TotalSeconds:F0} s the daemon's /metrics " +
              "(`dotnet_total_memory_bytes`, `dotnet_collection_count_total`, `process_cpu_seconds_total`, the programming-latency histogram, " +
              "`proxyreplacement_map_entries`, which the daemon counts at each full resync). Sync durations are the exact figures of the daemon's " +
              "`Synced (...) in X ms` log lines (one per sync that wrote something; the same values its `kubeproxy_sync_*_duration_seconds` histograms get), " +
              $"split into triggered syncs and full resyncs; with about {syncsPerPeriod:F0} triggered syncs a {period} the nearest-rank p99 is the " +
              $"{(topRank == 1 ? "slowest" : $"{topRank}th slowest")}. After the last change the harness compares `service-proxy dump -o json` with the model it generated " +
              "(every frontend VIP:port, its backend count and its counted backends' addresses; none missing or extra; no backend beyond a count; " +
              "`pr_nat_be4` holding no entry that no frontend lists), polling every 2 s until they are equal; the suite fails if they never are. The verdict compares " +
              $"the last {period} with the second (the first holds the JIT and the first full resyncs).";
        var sourceText = source == ChurnSource.ManifestDirectory
            ? $" **Source: the manifest directory** (`--manifest-dir`): {ManifestChurnTarget.ServicesPerFile} Services (with their slices) per YAML file; " +
              "a batch rewrites each file it touched (written aside, then renamed over). The daemon re-reads the whole directory when anything in it changed " +
              "(woken by a file watcher, else its 1 s poll), so each re-read parses every Service and slice; the *directory re-reads* column counts them."
            : " **Source: the Kubernetes API**: the fake API server of the tests (Kestrel, TLS, bearer token) in the harness process, on the namespace's loopback; " +
              "the daemon lists, then watches; each change is one or two watch events (a deleted Service: its slice and itself).";
        var note = smoke ? "" : " The machine was shared with other work while the soak ran (see the load column: 2 cores).";
        return common + sourceText + note + $" Over time (one row per {period}; RSS is the median (min–max) of its samples, the rest as named):";
    }

    private static string Tail(string text)
    {
        var trimmed = text.Trim();
        return trimmed.Length <= 3000 ? trimmed : "…" + trimmed[^3000..];
    }

    private static double LoadAverage() =>
        double.TryParse(File.ReadAllText("/proc/loadavg").Split(' ')[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var load) ? load : double.NaN;

    private static string RepositoryRoot =>
        typeof(ChurnSoakSuite).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == "RepositoryRoot").Value!;

    /// <summary>
    /// Makes the changes on its own thread: at each tick (<see cref="TicksPerSecond"/> a second) as many as are due by then
    /// (rate × elapsed), published as one batch. <see cref="Made"/> counts them.
    /// </summary>
    private sealed class ChurnRunner(ChurnCluster cluster, IChurnTarget target, int perSecond, TimeSpan duration, long started, CancellationToken cancellation)
    {
        private readonly ManualResetEventSlim _stop = new();
        private long _made;
        private Exception? _failure;

        public long Made => Interlocked.Read(ref _made);

        public void Run()
        {
            try
            {
                var tick = TimeSpan.FromSeconds(1.0 / TicksPerSecond);
                for (var n = 1; ; n++)
                {
                    var at = tick * n;
                    if (at > duration)
                        break;
                    var wait = at - Stopwatch.GetElapsedTime(started);
                    if (wait > TimeSpan.Zero && _stop.Wait(wait))
                        return;
                    if (_stop.IsSet || cancellation.IsCancellationRequested)
                        return;
                    var due = (long)Math.Floor(at.TotalSeconds * perSecond);
                    var batch = new ChurnBatch();
                    var now = DateTimeOffset.UtcNow;
                    var made = Made;
                    for (; made < due; made++)
                        cluster.Next(batch, now);
                    target.Apply(cluster, batch);
                    Interlocked.Exchange(ref _made, made);
                }
            }
            catch (Exception error)
            {
                _failure = error;
            }
        }

        public void Stop() => _stop.Set();

        public void ThrowIfFailed()
        {
            if (_failure is { } failure)
                throw new InvalidOperationException("the churn generator failed", failure);
        }
    }
}
