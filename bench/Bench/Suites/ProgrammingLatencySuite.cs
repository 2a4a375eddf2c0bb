using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using ProxyReplacement.Bench.Baseline;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Suites.EndToEnd;
using ProxyReplacement.Bench.Support;
using ProxyReplacement.Bench.Workload;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tests.Support;
using ProxyReplacement.E2E.Tests.Support;
using ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi;

namespace ProxyReplacement.Bench.Suites;

/// <summary>
/// End-to-end programming latency and cold start of the real daemon, with its default options, through both sources:
/// the fake API server (the real Kubernetes source code path) and a manifest directory. Per run and source a fresh node
/// (namespaces, bpffs, daemon) with N Services × 4: the cold start (process start → every Service programmed, and the
/// daemon's own breakdown by stage), then single EndpointSlice changes after a quiet second and bursts of changes 100–300
/// ms apart; for each change the time to the map write (the pinned backend map polled) and to the first new connection
/// that reaches the new endpoints (a probe connecting every millisecond). Beside it, kube-proxy's iptables rules (our
/// model of them) in the same topology: the same change written with <c>iptables-nft-restore --noflush</c>.
/// </summary>
public sealed partial class ProgrammingLatencySuite : IBenchSuite
{
    private const int GroupsPerPod = 60; // endpoint groups of 4 addresses: 10.201.2.8 .. 10.201.2.247
    private const int FirstGroupOctet = 8;
    private const int ProbeIntervalMicroseconds = 1000;
    private static readonly TimeSpan ChangeTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);

    public string Name => "latency";

    private enum SourceKind
    {
        Api,
        Manifest,
    }

    private sealed record Daemon(string Label, string Binary, bool Ours);

    /// <summary>
    /// One change: when it was made, and when its endpoints (or a later change's) were in the map and reached by a new connection.
    /// Beside it, for telling a slow change's cause: the harness's own GC pauses while the change (or its burst) was in flight (the
    /// fake API server and the map poller run in this process) and the daemon's gen1/gen2 collections over the same span.
    /// </summary>
    private sealed record ChangeSample(bool Burst, double MapMs, double PacketMs, double HarnessGcPauseMs, int DaemonGen1, int DaemonGen2);

    private sealed record ColdStart(double TotalMs, IReadOnlyDictionary<string, double> Stages);

    public IReadOnlyList<ReportSection> Run(BenchContext context)
    {
        var settings = context.Settings;
        var daemons = new List<Daemon> { new("", MemorySuite.DaemonBinary, true) };
        if (Environment.GetEnvironmentVariable("PR_BENCH_BASELINE_DAEMON") is { Length: > 0 } baseline)
            daemons.Insert(0, new(" (baseline build)", baseline, false));
        _ = EndToEndNode.LatencyProbeBinary; // fail early when the tool is missing
        var latencyRows = new List<ReportRow>();
        var coldRows = new List<ReportRow>();
        var notes = new List<string>();
        var work = Directory.CreateTempSubdirectory("prt-bench-lat-");
        using var certificates = TestCertificates.Create();
        try
        {
            var kubeconfig = ApiSourceSuite.WriteKubeconfig(work.FullName, certificates);
            // Untimed: one start of each build with each source on a tiny cluster, so the first timed run does not pay for the
            // harness's own first TLS handshake and JSON encoding (the fake server runs in this process) or a cold file cache.
            var warmup = new SyntheticServices(10, settings.EndpointsPerService);
            var warmupManifests = Path.Combine(work.FullName, "manifests-warmup");
            warmup.WriteManifests(warmupManifests, skip: i => i == 5);
            foreach (var daemon in daemons)
                foreach (var source in new[] { SourceKind.Api, SourceKind.Manifest })
                    RunDaemon(daemon, source, warmup, 5, warmupManifests, kubeconfig, certificates, context, measure: false);
            foreach (var size in settings.LatencyServiceCounts)
            {
                var measured = size / 2;
                var cluster = new SyntheticServices(size, settings.EndpointsPerService);
                var manifests = Path.Combine(work.FullName, $"manifests-{size}");
                cluster.WriteManifests(manifests, skip: i => i == measured);
                var samples = new Dictionary<(string Daemon, SourceKind Source), List<List<ChangeSample>>>();
                var cold = new Dictionary<(string Daemon, SourceKind Source), List<ColdStart>>();
                var iptables = new List<List<(double RulesMs, double PacketMs)>>();
                for (var run = 0; run < settings.Runs; run++)
                {
                    foreach (var daemon in daemons)
                        foreach (var source in new[] { SourceKind.Api, SourceKind.Manifest })
                        {
                            context.Cancellation.ThrowIfCancellationRequested();
                            var (start, changes) = RunDaemon(daemon, source, cluster, measured, manifests, kubeconfig, certificates, context);
                            Add(cold, (daemon.Label, source), start);
                            Add(samples, (daemon.Label, source), changes);
                            var slowest = changes.MaxBy(c => c.MapMs)!;
                            context.Progress($"latency{daemon.Label}: {size} Services, {source}, run {run + 1}: cold start {start.TotalMs:F0} ms; " +
                                $"map p50 {Percentile(changes.Select(c => c.MapMs), 0.5):F1} ms, max {slowest.MapMs:F1} ms " +
                                $"({(slowest.Burst ? "burst" : "single")}; harness GC pauses {slowest.HarnessGcPauseMs:F1} ms, daemon gen1/gen2 collections " +
                                $"{slowest.DaemonGen1}/{slowest.DaemonGen2} meanwhile); " +
                                $"first packet p50 {Percentile(changes.Select(c => c.PacketMs), 0.5):F1} ms, max {changes.Max(c => c.PacketMs):F1} ms");
                        }
                    var baselineChanges = RunIptables(cluster, measured, work.FullName, context);
                    iptables.Add(baselineChanges);
                    context.Progress($"latency iptables: {size} Services, run {run + 1}: restore p50 {Percentile(baselineChanges.Select(c => c.RulesMs), 0.5):F0} ms, " +
                        $"first packet p50 {Percentile(baselineChanges.Select(c => c.PacketMs), 0.5):F0} ms");
                }
                latencyRows.AddRange(LatencyRows(size, samples, iptables, daemons));
                coldRows.AddRange(ColdRows(size, cold, daemons));
            }
        }
        finally
        {
            work.Delete(recursive: true);
        }
        var stormRows = Storm(context);
        notes.Add("No kube-proxy binary is available on this machine: the baseline is our model of its iptables rules and of the restore it " +
                  "runs for one endpoint change (`bench/Bench/Baseline/KubeProxyRuleset.cs`), not kube-proxy itself: its informer, its " +
                  "1 s minSyncPeriod and its rule generation come on top.");
        return
        [
            new ReportSection("End to end: programming latency (a change to the map write and to the first packet)", LatencyMethod(context.Settings), latencyRows, notes),
            new ReportSection("Cold start: process start to every Service programmed", ColdMethod(context.Settings), coldRows),
            new ReportSection("The sync runner's minimum interval under a storm of changes", StormMethod(context.Settings), stormRows),
        ];
    }

    private static List<ReportRow> Storm(BenchContext context)
    {
        var settings = context.Settings;
        var cluster = new SyntheticServices(settings.LatencyStormServices, settings.EndpointsPerService);
        var rows = new List<ReportRow>();
        var random = new Random(17);
        var outcomes = settings.LatencyStormIntervals.ToDictionary(ms => ms, _ => new List<RunnerStorm.Outcome>());
        RunnerStorm.Run(cluster, TimeSpan.Zero, settings.LatencyStormChanges, TimeSpan.FromMilliseconds(0.1), random, context.Cancellation); // untimed: JIT
        for (var run = 0; run < settings.Runs; run++)
            foreach (var ms in settings.LatencyStormIntervals)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                var outcome = RunnerStorm.Run(cluster, TimeSpan.FromMilliseconds(ms), settings.LatencyStormChanges, TimeSpan.FromMilliseconds(0.1), random, context.Cancellation);
                outcomes[ms].Add(outcome);
                context.Progress($"latency storm: --min-sync-interval {ms} ms, run {run + 1}: {outcome.Syncs} syncs, {outcome.SyncMs:F1} ms syncing, p99 {outcome.P99Ms:F1} ms");
            }
        var label = $"{cluster.Count:N0} Services, {settings.LatencyStormChanges} changes 0.1 ms apart";
        foreach (var ms in settings.LatencyStormIntervals)
        {
            var name = ms == ServiceProxy.Options.ProxyOptions.DefaultMinSyncInterval.TotalMilliseconds ? $"--min-sync-interval {ms} ms (the default)" : $"--min-sync-interval {ms} ms";
            var list = outcomes[ms];
            rows.Add(new ReportRow($"{label}, {name}: syncs", new Measurement("syncs", list.Select(o => o.Syncs).ToList())));
            rows.Add(new ReportRow($"{label}, {name}: time spent syncing", new Measurement("ms", list.Select(o => o.SyncMs).ToList())));
            rows.Add(new ReportRow($"{label}, {name}: a change's latency (tracker → written), p50", new Measurement("ms", list.Select(o => o.P50Ms).ToList())));
            rows.Add(new ReportRow($"{label}, {name}: a change's latency (tracker → written), p99", new Measurement("ms", list.Select(o => o.P99Ms).ToList())));
        }
        return rows;
    }

    private static string StormMethod(BenchSettings settings) =>
        "In the harness process, to choose the runner's default interval: the real `BoundedFrequencyRunner` driving the real " +
        "`ChangeTracker` and `Syncer` on BPF maps holding N Services × 4 (programmed first; the runner's first, full run is over " +
        "before the storm), hit by " + settings.LatencyStormChanges + " EndpointSlice changes of random Services 0.1 ms apart (a " +
        "relist, a node going away, a large rollout: many slices at once). Each change is upserted into the tracker and triggers " +
        "the runner, as the sources do. Per `--min-sync-interval`: the syncs the storm took, their total time (what the sync loop " +
        "spent on it), and each change's latency from its upsert to the end of the sync that wrote it (p50, p99 per run). The " +
        "source's own latency is not in it (see the section above). One untimed storm first (JIT); then " + settings.Runs +
        " runs, each visiting every interval.";

    private static void Add<TKey, TValue>(Dictionary<TKey, List<TValue>> into, TKey key, TValue value) where TKey : notnull
    {
        if (!into.TryGetValue(key, out var list))
            into[key] = list = [];
        list.Add(value);
    }

    // ---- one daemon run ----------------------------------------------------------------------------------------------

    private (ColdStart Start, List<ChangeSample> Changes) RunDaemon(Daemon daemon, SourceKind source, SyntheticServices cluster, int measured,
        string manifests, string kubeconfig, TestCertificates certificates, BenchContext context, bool measure = true)
    {
        var settings = context.Settings;
        using var node = LatencyNode.Create(context);
        using var bpffs = BpffsMount.Create();
        var pinRoot = Path.Combine(bpffs.Path, "pr");
        FakeApiServer? api = null;
        FakeApiStore? store = null;
        var measuredFile = Path.Combine(manifests, "measured.yaml");
        BackgroundProcess? process = null;
        PinnedCoreMaps? maps = null;
        try
        {
            string[] sourceArguments;
            if (source == SourceKind.Api)
            {
                store = PopulateStore(cluster, measured);
                api = FakeApiServer.StartAsync(store, certificates, NetnsListener.Create(node.NodeNamespace, ApiSourceSuite.ApiEndpoint),
                    ApiSourceSuite.ApiEndpoint.Port).GetAwaiter().GetResult();
                api.RequiredToken = ApiSourceSuite.Token;
                sourceArguments = ["--kubeconfig", kubeconfig];
            }
            else
            {
                WriteMeasured(cluster, measured, measuredFile, generation: 0);
                sourceArguments = ["--manifest-dir", manifests];
            }
            string[] arguments =
            [
                "run", .. sourceArguments, "--bpffs-root", pinRoot, "--workload-interfaces", $"{node.Topology.Prefix}-*",
                "--hostname-override", "bench", "--healthz-bind-address", "127.0.0.1:10256", "--metrics-bind-address", "127.0.0.1:10249",
            ];
            var synced = $"Synced (";
            var everything = $": {cluster.Count} services";
            long syncedAt = 0;
            string? startup = null;
            var spawned = Stopwatch.GetTimestamp();
            process = BackgroundProcess.Start("ip", ["netns", "exec", node.NodeNamespace, daemon.Binary, .. arguments], line =>
            {
                if (line.Contains("Startup: ", StringComparison.Ordinal))
                    Volatile.Write(ref startup, line);
                if (!line.Contains(synced, StringComparison.Ordinal) || !line.Contains(everything, StringComparison.Ordinal))
                    return false;
                Interlocked.CompareExchange(ref syncedAt, Stopwatch.GetTimestamp(), 0);
                return true;
            });
            process.WaitUntilReady(StartTimeout, context.Cancellation);
            var total = Stopwatch.GetElapsedTime(spawned, Interlocked.Read(ref syncedAt)).TotalMilliseconds;
            if (daemon.Ours)
            {
                var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 5;
                while (Volatile.Read(ref startup) is null && Stopwatch.GetTimestamp() < deadline)
                    Thread.Sleep(10);
            }
            var start = new ColdStart(total, ParseStartup(Volatile.Read(ref startup)));

            // Ready for changes: the measured Service programmed (its id) and reached by the probe at generation 0.
            maps = OpenWhenPinned(pinRoot, process);
            var serviceId = WaitForFrontend(maps, measured, process);
            using var poller = new BackendPoller(maps, serviceId, (uint)settings.EndpointsPerService);
            node.StartProbe(SyntheticServices.ClusterIP(measured), context);
            node.WaitForGroup(Group(0), process);

            var changes = new List<ChangeSample>();
            var generation = 0;
            var random = new Random(cluster.Count + changes.Count);
            void Change(bool burst, List<(int Generation, long At)> made)
            {
                generation++;
                var at = Stopwatch.GetTimestamp();
                if (source == SourceKind.Api)
                    store!.Put(FakeApiStore.EndpointSlices, Slice(measured, generation));
                else
                    WriteMeasured(cluster, measured, measuredFile, generation);
                made.Add((generation, at));
            }
            var collections = (Gen1: 0.0, Gen2: 0.0);
            var pausedBefore = TimeSpan.Zero;
            void Begin()
            {
                collections = DaemonCollections(node);
                pausedBefore = GC.GetTotalPauseDuration();
            }
            void Settle(List<(int Generation, long At)> made, bool burst)
            {
                var settled = new List<(double MapMs, double PacketMs)>();
                foreach (var (changeGeneration, at) in made)
                {
                    var map = poller.WaitFor(changeGeneration, generation, at, ChangeTimeout, process);
                    var packet = node.WaitFor(changeGeneration, generation, at, ChangeTimeout, process);
                    settled.Add((Stopwatch.GetElapsedTime(at, map).TotalMilliseconds, Stopwatch.GetElapsedTime(at, packet).TotalMilliseconds));
                }
                var paused = (GC.GetTotalPauseDuration() - pausedBefore).TotalMilliseconds;
                var after = DaemonCollections(node);
                foreach (var (mapMs, packetMs) in settled)
                    changes.Add(new ChangeSample(burst, mapMs, packetMs, paused, Delta(collections.Gen1, after.Gen1), Delta(collections.Gen2, after.Gen2)));
            }
            if (!measure)
                return (start, changes);
            for (var i = 0; i < settings.LatencySingleChanges; i++)
            {
                Quiet(random, context);
                Begin();
                var made = new List<(int, long)>();
                Change(burst: false, made);
                Settle(made, burst: false);
            }
            for (var b = 0; b < settings.LatencyBursts; b++)
            {
                Quiet(random, context);
                Begin();
                var made = new List<(int, long)>();
                for (var i = 0; i < settings.LatencyBurstLength; i++)
                {
                    if (i > 0)
                        SleepPrecise(TimeSpan.FromMilliseconds(100 + random.Next(201)), context.Cancellation);
                    Change(burst: true, made);
                }
                Settle(made, burst: true);
            }
            return (start, changes);
        }
        finally
        {
            maps?.Dispose();
            if (process is not null)
                Stop(process);
            api?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            File.Delete(measuredFile);
        }
    }

    /// <summary>The daemon's gen1 and gen2 collection counts so far (its /metrics in the node's namespace), NaN when it does not answer.</summary>
    private static (double Gen1, double Gen2) DaemonCollections(LatencyNode node)
    {
        var response = NetnsHttp.TryGetAsync(node.NodeNamespace, DaemonMetrics, "/metrics", TimeSpan.FromSeconds(5)).GetAwaiter().GetResult();
        if (response is not { Status: 200 })
            return (double.NaN, double.NaN);
        var metrics = Churn.MetricsText.Parse(response.Body);
        return (metrics.Value("dotnet_collection_count_total", "generation=\"1\"") ?? double.NaN,
                metrics.Value("dotnet_collection_count_total", "generation=\"2\"") ?? double.NaN);
    }

    /// <summary>How many collections happened between two counts; -1 when either scrape failed.</summary>
    private static int Delta(double before, double after) => double.IsNaN(before) || double.IsNaN(after) ? -1 : (int)(after - before);

    private static readonly IPEndPoint DaemonMetrics = new(IPAddress.Loopback, 10249);

    /// <summary>A quiet 1.0–1.4 s before a single change or a burst (longer than the old 1 s minimum interval).</summary>
    private static void Quiet(Random random, BenchContext context) =>
        SleepPrecise(TimeSpan.FromMilliseconds(1000 + random.Next(401)), context.Cancellation);

    private static void SleepPrecise(TimeSpan span, CancellationToken cancellation)
    {
        if (cancellation.WaitHandle.WaitOne(span))
            cancellation.ThrowIfCancellationRequested();
    }

    private static Dictionary<string, double> ParseStartup(string? line)
    {
        var stages = new Dictionary<string, double>(StringComparer.Ordinal);
        if (line is null)
            return stages;
        double Number(string text) => text == "?" ? double.NaN : double.Parse(text, CultureInfo.InvariantCulture);
        var match = StartupLine().Match(line);
        if (!match.Success)
            throw new InvalidOperationException($"unexpected Startup line: {line}");
        stages["runtime"] = Number(match.Groups["runtime"].Value);
        stages["setup"] = Number(match.Groups["setup"].Value) - Number(match.Groups["runtime"].Value);
        stages["load"] = Number(match.Groups["loadEnd"].Value) - Number(match.Groups["loadStart"].Value);
        stages["list"] = Number(match.Groups["listEnd"].Value) - Number(match.Groups["listStart"].Value);
        stages["wait"] = Number(match.Groups["syncStart"].Value) - Math.Max(Number(match.Groups["loadEnd"].Value), Number(match.Groups["listEnd"].Value));
        stages["sync"] = Number(match.Groups["syncEnd"].Value) - Number(match.Groups["syncStart"].Value);
        stages["daemon"] = Number(match.Groups["total"].Value);
        return stages;
    }

    [GeneratedRegex(@"programmed (?<total>[\d?]+) ms: runtime start (?<runtime>[\d?]+) ms; command line, logging, source set-up until (?<setup>[\d?]+) ms; " +
                    @"dataplane load \(BPF verification\) (?<loadStart>[\d?]+)-(?<loadEnd>[\d?]+) ms; list and parse (?<listStart>[\d?]+)-(?<listEnd>[\d?]+) ms; " +
                    @"first sync (?<syncStart>[\d?]+)-(?<syncEnd>[\d?]+) ms")]
    private static partial Regex StartupLine();

    private static PinnedCoreMaps OpenWhenPinned(string pinRoot, BackgroundProcess process)
    {
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 30;
        while (true)
        {
            try
            {
                return PinnedCoreMaps.Open(pinRoot);
            }
            catch (BpfException) when (Stopwatch.GetTimestamp() < deadline && !process.HasExited)
            {
                Thread.Sleep(50);
            }
        }
    }

    private static uint WaitForFrontend(PinnedCoreMaps maps, int measured, BackgroundProcess process)
    {
        var key = new NatFrontendKey4(SyntheticServices.ClusterIP(measured), SyntheticServices.ServicePort, L4Protocol.Tcp);
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 30;
        while (Stopwatch.GetTimestamp() < deadline && !process.HasExited)
        {
            if (maps.Frontends.TryLookup(key, out var value) && value.BackendCount > 0)
                return value.ServiceId;
            Thread.Sleep(20);
        }
        throw new InvalidOperationException($"the measured Service {key} was never programmed: {process.Output}");
    }

    private static void Stop(BackgroundProcess process)
    {
        if (!process.HasExited)
        {
            _ = Kill(process.Pid, 15); // `ip netns exec` execs the daemon: the pid is the daemon's
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
            while (!process.HasExited && DateTime.UtcNow < deadline)
                Thread.Sleep(50);
        }
        process.Dispose(); // SIGKILL if SIGTERM did not end it
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    [DllImport("libc", EntryPoint = "usleep")]
    private static extern int USleep(uint microseconds);

    // ---- generations of endpoints --------------------------------------------------------------------------------

    /// <summary>The 4 endpoints of change <paramref name="generation"/>: a group of 4 addresses of the backend pod, a different group each time.</summary>
    private static IReadOnlyList<IPAddress> Endpoints(int generation)
    {
        var first = FirstGroupOctet + 4 * (generation % GroupsPerPod);
        return Enumerable.Range(0, 4).Select(i => IPAddress.Parse($"10.201.2.{first + i}")).ToList();
    }

    /// <summary>The group (its first address, the others' with the last two bits cleared) of <paramref name="generation"/>.</summary>
    private static uint Group(int generation) => Ipv4(Endpoints(generation)[0]);

    private static uint Ipv4(IPAddress address)
    {
        var b = address.GetAddressBytes();
        return (uint)b[0] << 24 | (uint)b[1] << 16 | (uint)b[2] << 8 | b[3];
    }

    /// <summary>Whether <paramref name="group"/> is that of a generation from <paramref name="from"/> to <paramref name="latest"/> (groups repeat every 60).</summary>
    private static bool IsAtLeast(uint group, int from, int latest)
    {
        for (var g = from; g <= latest && g < from + GroupsPerPod; g++)
            if (Group(g) == group)
                return true;
        return false;
    }

    private static System.Text.Json.Nodes.JsonObject Slice(int measured, int generation) =>
        ApiJson.EndpointSlice(SyntheticServices.Namespace, SyntheticServices.ServiceName(measured) + "-slice", SyntheticServices.ServiceName(measured),
            SyntheticServices.TargetPort, Endpoints(generation).Select(a => a.ToString()));

    private static FakeApiStore PopulateStore(SyntheticServices cluster, int measured)
    {
        var store = new FakeApiStore();
        store.Put(FakeApiStore.Nodes, ApiJson.Node("bench", "192.168.0.1", zone: "zone-a"));
        for (var i = 0; i < cluster.Count; i++)
        {
            var name = SyntheticServices.ServiceName(i);
            store.Put(FakeApiStore.Services, ApiJson.Service(SyntheticServices.Namespace, name, SyntheticServices.ClusterIP(i).ToString(),
                SyntheticServices.ServicePort, SyntheticServices.TargetPort));
            store.Put(FakeApiStore.EndpointSlices, i == measured
                ? Slice(measured, 0)
                : ApiJson.EndpointSlice(SyntheticServices.Namespace, name + "-slice", name, SyntheticServices.TargetPort,
                    Enumerable.Range(0, cluster.EndpointsPerService).Select(j => cluster.Endpoint(i, j).ToString())));
        }
        return store;
    }

    /// <summary>The measured Service's own manifest at <paramref name="generation"/>, replaced atomically (a rename), as an editor or a sync tool would.</summary>
    private static void WriteMeasured(SyntheticServices cluster, int measured, string path, int generation)
    {
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, cluster.Manifest(measured, Endpoints(generation)));
        File.Move(temporary, path, overwrite: true);
    }

    // ---- the iptables baseline -----------------------------------------------------------------------------------

    private static List<(double RulesMs, double PacketMs)> RunIptables(SyntheticServices cluster, int measured, string work, BenchContext context)
    {
        var settings = context.Settings;
        var model = new SyntheticServices(cluster.Count, cluster.EndpointsPerService,
            (i, j) => i == measured ? Endpoints(0)[j] : SyntheticServices.DefaultEndpoint(i, j));
        var ruleset = new KubeProxyRuleset(model);
        var rules = Path.Combine(work, "iptables-full.rules");
        var change = Path.Combine(work, "iptables-change.rules");
        using var node = LatencyNode.Create(context);
        try
        {
            using (var writer = new StreamWriter(rules))
                ruleset.WriteFull(writer);
            ExternalCommand.Check("ip", ["netns", "exec", node.NodeNamespace, "iptables-nft-restore"], TimeSpan.FromMinutes(10), context.Cancellation, rules);
            node.StartProbe(SyntheticServices.ClusterIP(measured), context);
            node.WaitForGroup(Group(0), null);
            var random = new Random(cluster.Count);
            var results = new List<(double, double)>();
            for (var generation = 1; generation <= settings.LatencyIptablesChanges; generation++)
            {
                Quiet(random, context);
                using (var writer = new StreamWriter(change))
                    ruleset.WriteEndpointChange(writer, measured, Endpoints(generation - 1), Endpoints(generation));
                var at = Stopwatch.GetTimestamp();
                var restore = ExternalCommand.Check("ip", ["netns", "exec", node.NodeNamespace, "iptables-nft-restore", "--noflush"],
                    TimeSpan.FromMinutes(2), context.Cancellation, change);
                var written = Stopwatch.GetTimestamp();
                _ = restore;
                var packet = node.WaitFor(generation, generation, at, ChangeTimeout, null);
                results.Add((Stopwatch.GetElapsedTime(at, written).TotalMilliseconds, Stopwatch.GetElapsedTime(at, packet).TotalMilliseconds));
            }
            return results;
        }
        finally
        {
            File.Delete(rules);
            File.Delete(change);
        }
    }

    // ---- the node and its probe ----------------------------------------------------------------------------------

    /// <summary>
    /// A node topology with a client pod and one backend pod holding the 240 addresses of the endpoint groups, a
    /// <c>latency_probe serve</c> in the backend pod and a <c>latency_probe probe</c> in the client pod connecting to the
    /// measured ClusterIP every millisecond; the probe's lines (when the group reached changes) are kept with their times.
    /// </summary>
    private sealed class LatencyNode : IDisposable
    {
        private readonly NodeTopology _topology;
        private readonly ConcurrentQueue<(long At, uint Group)> _seen = new();
        private BackgroundProcess? _server;
        private BackgroundProcess? _probe;

        private LatencyNode(NodeTopology topology) => _topology = topology;

        public NodeTopology Topology => _topology;
        public string NodeNamespace => _topology.NodeNamespace;

        public static LatencyNode Create(BenchContext context)
        {
            var node = new LatencyNode(NodeTopology.Create(backendCount: 1));
            try
            {
                var backend = node._topology.Backends[0].Namespace;
                var batch = Path.GetTempFileName();
                try
                {
                    File.WriteAllLines(batch, Enumerable.Range(FirstGroupOctet, 4 * GroupsPerPod).Select(o => $"address add 10.201.2.{o}/24 dev eth0"));
                    ExternalCommand.Check("ip", ["-n", backend, "-batch", batch], TimeSpan.FromMinutes(1), context.Cancellation);
                }
                finally
                {
                    File.Delete(batch);
                }
                IpCommand.Sysctl(node._topology.Client.Namespace, "net.ipv4.ip_local_port_range", "1024 65535");
                var port = SyntheticServices.TargetPort.ToString(CultureInfo.InvariantCulture);
                node._server = BackgroundProcess.Start("ip", ["netns", "exec", backend, EndToEndNode.LatencyProbeBinary, "serve", port],
                    line => line.Contains("listening", StringComparison.Ordinal));
                node._server.WaitUntilReady(TimeSpan.FromSeconds(20), context.Cancellation);
                return node;
            }
            catch
            {
                node.Dispose();
                throw;
            }
        }

        /// <summary>Waits until new connections (of the probe, started before) reach <paramref name="group"/>.</summary>
        public void WaitForGroup(uint group, BackgroundProcess? daemon)
        {
            var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 60;
            while (Stopwatch.GetTimestamp() < deadline)
            {
                if (_seen.LastOrDefault().Group == group)
                    return;
                if (daemon is { HasExited: true })
                    throw new InvalidOperationException($"the daemon exited: {daemon.Output}");
                Thread.Sleep(20);
            }
            throw new TimeoutException($"new connections never reached {Format(group)}; the probe saw: {Seen()}");
        }

        public void StartProbe(IPAddress clusterIp, BenchContext context)
        {
            _probe = BackgroundProcess.Start("ip", ["netns", "exec", _topology.Client.Namespace, EndToEndNode.LatencyProbeBinary, "probe",
                clusterIp.ToString(), SyntheticServices.ServicePort.ToString(CultureInfo.InvariantCulture),
                ProbeIntervalMicroseconds.ToString(CultureInfo.InvariantCulture)], line =>
            {
                var space = line.IndexOf(' ', StringComparison.Ordinal);
                if (space > 0 && long.TryParse(line.AsSpan(0, space), NumberStyles.None, CultureInfo.InvariantCulture, out var at))
                    _seen.Enqueue((at, IPAddress.TryParse(line.AsSpan(space + 1), out var address) ? Ipv4(address) : 0));
                return line == "probing";
            });
            _probe.WaitUntilReady(TimeSpan.FromSeconds(20), context.Cancellation);
        }

        /// <summary>When the first connection that left after <paramref name="since"/> reached change <paramref name="generation"/>'s group or a later one's.</summary>
        public long WaitFor(int generation, int latest, long since, TimeSpan timeout, BackgroundProcess? daemon)
        {
            var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
            while (Stopwatch.GetTimestamp() < deadline)
            {
                foreach (var (at, group) in _seen)
                    if (at >= since && IsAtLeast(group, generation, latest))
                        return at;
                if (daemon is { HasExited: true })
                    throw new InvalidOperationException($"the daemon exited: {daemon.Output}");
                Thread.Sleep(2);
            }
            throw new TimeoutException($"change {generation}: no new connection reached its endpoints within {timeout.TotalSeconds:0} s; the probe saw: {Seen()}");
        }

        private string Seen() => string.Join(", ", _seen.TakeLast(10).Select(s => Format(s.Group)));

        private static string Format(uint group) => group == 0 ? "a failure" : new IPAddress([(byte)(group >> 24), (byte)(group >> 16), (byte)(group >> 8), (byte)group]).ToString();

        public void Dispose()
        {
            _probe?.Dispose();
            _server?.Dispose();
            _topology.Dispose();
        }
    }

    /// <summary>
    /// Polls the pinned backend map every quarter millisecond (one thread) and keeps each moment the measured Service's
    /// backends all came to belong to one endpoint group.
    /// </summary>
    private sealed class BackendPoller : IDisposable
    {
        private readonly ConcurrentQueue<(long At, uint Group)> _seen = new();
        private readonly Thread _thread;
        private volatile bool _stop;

        public BackendPoller(PinnedCoreMaps maps, uint serviceId, uint count)
        {
            _thread = new Thread(() =>
            {
                uint last = 0;
                while (!_stop)
                {
                    uint group = 0;
                    for (uint ordinal = 0; ordinal < count; ordinal++)
                    {
                        if (!maps.Backends.TryLookup(new NatBackendKey(serviceId, ordinal), out var backend))
                        {
                            group = 0;
                            break;
                        }
                        var g = Ipv4(backend.Address) & ~3u;
                        if (ordinal == 0)
                            group = g;
                        else if (g != group)
                        {
                            group = 0;
                            break;
                        }
                    }
                    if (group != 0 && group != last)
                    {
                        _seen.Enqueue((Stopwatch.GetTimestamp(), group));
                        last = group;
                    }
                    USleep(250);
                }
            }) { IsBackground = true, Name = "backend poller" };
            _thread.Start();
        }

        public long WaitFor(int generation, int latest, long since, TimeSpan timeout, BackgroundProcess daemon)
        {
            var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
            while (Stopwatch.GetTimestamp() < deadline)
            {
                foreach (var (at, group) in _seen)
                    if (at >= since && IsAtLeast(group, generation, latest))
                        return at;
                if (daemon.HasExited)
                    throw new InvalidOperationException($"the daemon exited: {daemon.Output}");
                Thread.Sleep(2);
            }
            throw new TimeoutException($"change {generation}: the map never held its endpoints within {timeout.TotalSeconds:0} s");
        }

        public void Dispose()
        {
            _stop = true;
            _thread.Join();
        }
    }

    // ---- the report ----------------------------------------------------------------------------------------------

    private static double Percentile(IEnumerable<double> values, double p) => new Measurement("ms", values.ToList()).Percentile(p);

    private static IEnumerable<ReportRow> LatencyRows(int size, Dictionary<(string Daemon, SourceKind Source), List<List<ChangeSample>>> samples,
        List<List<(double RulesMs, double PacketMs)>> iptables, IReadOnlyList<Daemon> daemons)
    {
        var label = $"{size:N0} Services";
        const string target = "p99 ≤ 20 ms at 10k";
        var iptablesPacketP50 = new Measurement("ms", iptables.Select(run => Percentile(run.Select(c => c.PacketMs), 0.5)).ToList());
        var iptablesPacketP99 = new Measurement("ms", iptables.Select(run => Percentile(run.Select(c => c.PacketMs), 0.99)).ToList());
        foreach (var daemon in daemons)
            foreach (var source in new[] { SourceKind.Api, SourceKind.Manifest })
            {
                var runs = samples[(daemon.Label, source)];
                var from = source == SourceKind.Api ? "API change (fake API server)" : "manifest change";
                foreach (var burst in new[] { false, true })
                {
                    var kind = burst ? "each change of a burst (100–300 ms apart)" : "single change";
                    Measurement Of(Func<ChangeSample, double> value, double p) =>
                        new("ms", runs.Select(run => Percentile(run.Where(c => c.Burst == burst).Select(value), p)).ToList());
                    yield return new ReportRow($"{label}{daemon.Label}: {from} → map write, {kind}, p50", Of(c => c.MapMs, 0.5));
                    yield return new ReportRow($"{label}{daemon.Label}: {from} → map write, {kind}, p99", Of(c => c.MapMs, 0.99), Target: target);
                    var packetP50 = Of(c => c.PacketMs, 0.5);
                    var packetP99 = Of(c => c.PacketMs, 0.99);
                    yield return burst
                        ? new ReportRow($"{label}{daemon.Label}: {from} → first packet to the new endpoints, {kind}, p50", packetP50)
                        : ReportRow.Versus($"{label}{daemon.Label}: {from} → first packet to the new endpoints, {kind}, p50", packetP50, "iptables", iptablesPacketP50);
                    yield return burst
                        ? new ReportRow($"{label}{daemon.Label}: {from} → first packet to the new endpoints, {kind}, p99", packetP99, Target: target)
                        : ReportRow.Versus($"{label}{daemon.Label}: {from} → first packet to the new endpoints, {kind}, p99", packetP99, "iptables", iptablesPacketP99, target);
                }
            }
        yield return new ReportRow($"{label}: kube-proxy's iptables rules: `iptables-nft-restore --noflush` of the change, single change, p50",
            new Measurement("ms", iptables.Select(run => Percentile(run.Select(c => c.RulesMs), 0.5)).ToList()));
        yield return new ReportRow($"{label}: kube-proxy's iptables rules: `iptables-nft-restore --noflush` of the change, single change, p99",
            new Measurement("ms", iptables.Select(run => Percentile(run.Select(c => c.RulesMs), 0.99)).ToList()));
        yield return new ReportRow($"{label}: kube-proxy's iptables rules: change → first packet to the new endpoints, single change, p50", iptablesPacketP50);
        yield return new ReportRow($"{label}: kube-proxy's iptables rules: change → first packet to the new endpoints, single change, p99", iptablesPacketP99);
    }

    private static IEnumerable<ReportRow> ColdRows(int size, Dictionary<(string Daemon, SourceKind Source), List<ColdStart>> cold, IReadOnlyList<Daemon> daemons)
    {
        var label = $"{size:N0} Services × 4";
        var target = size == 1_000 ? "≤ 0.8 s at 1k" : null;
        var stages = new (string Key, string Name)[]
        {
            ("runtime", "runtime start (process start → Main)"),
            ("setup", "command line, logging, telemetry, source set-up (Main → daemon start)"),
            ("load", "dataplane load and BPF verification"),
            ("list", "list and parse (beside the load)"),
            ("wait", "waiting between the later of load and list and the first sync"),
            ("sync", "first sync"),
        };
        foreach (var source in new[] { SourceKind.Api, SourceKind.Manifest })
        {
            var from = source == SourceKind.Api ? "fake API server" : "manifest directory";
            var ours = cold[(daemons.Last().Label, source)];
            var oursTotal = new Measurement("ms", ours.Select(c => c.TotalMs).ToList());
            foreach (var daemon in daemons.Where(d => !d.Ours))
            {
                var theirs = new Measurement("ms", cold[(daemon.Label, source)].Select(c => c.TotalMs).ToList());
                yield return new ReportRow($"{label}, {from}{daemon.Label}: process start → every Service programmed", theirs);
            }
            var baseline = daemons.FirstOrDefault(d => !d.Ours);
            yield return baseline is null
                ? new ReportRow($"{label}, {from}: process start → every Service programmed", oursTotal, Target: target)
                : ReportRow.Versus($"{label}, {from}: process start → every Service programmed", oursTotal, "baseline build",
                    new Measurement("ms", cold[(baseline.Label, source)].Select(c => c.TotalMs).ToList()), target);
            foreach (var (key, name) in stages)
                if (ours.All(c => c.Stages.TryGetValue(key, out var v) && !double.IsNaN(v)))
                    yield return new ReportRow($"{label}, {from}: {name}", new Measurement("ms", ours.Select(c => c.Stages[key]).ToList()));
        }
    }

    private static string LatencyMethod(BenchSettings settings) =>
        "The real daemon (`bin/service-proxy run`, the published build) with its **default options** (the minimum sync interval " +
        "included) in the node namespace of a one-node topology (a client pod, a backend pod), with a private bpffs as " +
        "`--bpffs-root` and the pod veths as workload interfaces, serving N Services × 4 endpoints (the manifest suite's synthetic " +
        "cluster). Two sources: the **fake API server** (tests/ServiceProxy.Tests/Kubernetes/FakeApi, TLS and a token, in the " +
        "harness process, listening in the node namespace: the daemon's real Kubernetes source code path, list and watch) and a " +
        "**manifest directory** (the measured Service in a file of its own, replaced by a rename). The measured Service (the one " +
        "in the middle) has its 4 endpoints on the backend pod, which holds 240 addresses: each change moves the Service's " +
        "EndpointSlice to the next group of 4 of them, so every change has endpoints of its own. The backend pod runs " +
        "`bench/native/latency_probe serve` (answers each connection with the local address it reached); the client pod runs " +
        "`latency_probe probe`, which opens a new connection to the ClusterIP every millisecond and reports when the group " +
        "reached changes, with the time its SYN left. A change's time starts just before the harness writes it (the fake " +
        "server's store `Put`, or the file rename). **Map write**: a harness thread reads the Service's 4 pinned backend " +
        "entries every 0.25 ms; the first read after the change in which all 4 belong to that change's group (or a later " +
        "change's). **First packet**: the first probe connection after the change that reached such an endpoint (resolution " +
        "1 ms). **Single changes**: " + settings.LatencySingleChanges + " per run, each after a quiet 1.0–1.4 s; **bursts**: " +
        settings.LatencyBursts + " per run of " + settings.LatencyBurstLength + " changes 100–300 ms apart (as in a rolling " +
        "update), after a quiet 1.0–1.4 s; every change of a burst counts. A run's figure is the p50 or p99 (nearest rank) of " +
        "its changes; the table shows the median (min–max) of the runs. Each run starts a fresh node and daemon per source. " +
        "**Baseline (same run)**: the same topology without our daemon, kube-proxy's iptables rules for the same N Services " +
        "(`KubeProxyRuleset`, the e2e suite's model) restored with iptables-nft into the node namespace, and per change the " +
        "restore kube-proxy runs for it (`iptables-nft-restore --noflush` of the changed chains and the whole KUBE-SERVICES " +
        "chain; " + settings.LatencyIptablesChanges + " single changes per run, its text written untimed): the time of that " +
        "restore and to the first probe connection reaching the new endpoints. With `PR_BENCH_BASELINE_DAEMON=PATH` another " +
        "build of the daemon runs too, alternating with this one.";

    private static string ColdMethod(BenchSettings settings) =>
        "The runs of the section above: each starts the daemon afresh (new node namespace, new bpffs, nothing to adopt) and " +
        "times from just before the harness starts it (`ip netns exec NODE bin/service-proxy run ...`) to the moment it reads the " +
        "daemon's `Synced (...): N services` line (every Service programmed). The stages come from the daemon's own `Startup:` log " +
        "line, written after its first sync from its clock: the runtime's start (the process's start time in /proc/self/stat, " +
        "10 ms ticks, to Main), the command line, logging, telemetry and source set-up (Main until the daemon starts), the " +
        "dataplane load (libbpf and the kernel's verifier), the source's list and parse (which runs beside the load), the wait " +
        "between the later of those two and the first sync, and the first full sync. Stages overlap, so they do not add up to " +
        "the total. " + settings.Runs + " runs per figure.";
}
