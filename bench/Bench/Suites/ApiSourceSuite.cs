using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Reflection;
using System.Text;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Support;
using ProxyReplacement.Bench.Workload;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tests.Support;
using ProxyReplacement.E2E.Tests.Support;
using ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi;

namespace ProxyReplacement.Bench.Suites;

/// <summary>
/// The Kubernetes API source: the real daemon (<c>run --kubeconfig</c>) against the in-process fake API server
/// holding N Services × M endpoints (one EndpointSlice each) and one Node. Per run: the time from the server's
/// first request (the first list) to the daemon's first full sync of all N, and the daemon's RSS right then.
/// </summary>
public sealed class ApiSourceSuite : IBenchSuite
{
    private static readonly TimeSpan SyncTimeout = TimeSpan.FromMinutes(5);
    internal static readonly IPEndPoint ApiEndpoint = new(IPAddress.Loopback, 6443);
    internal const string Token = "bench-token";

    public string Name => "apisource";

    public IReadOnlyList<ReportSection> Run(BenchContext context)
    {
        var settings = context.Settings;
        var work = Directory.CreateTempSubdirectory("prt-bench-api-");
        using var certificates = TestCertificates.Create();
        try
        {
            var kubeconfig = WriteKubeconfig(work.FullName, certificates);
            var rows = new List<ReportRow>();
            foreach (var services in settings.ApiSourceServiceCounts)
            {
                var store = Populate(services, settings.EndpointsPerService);
                var daemons = new List<(string Label, string Binary)> { ("", DaemonBinary) };
                if (Environment.GetEnvironmentVariable("PR_BENCH_BASELINE_DAEMON") is { Length: > 0 } baseline)
                    daemons.Insert(0, (" (baseline)", baseline));
                var rss = daemons.ToDictionary(d => d.Label, _ => new List<double>());
                var firstSync = daemons.ToDictionary(d => d.Label, _ => new List<double>());
                for (var run = 0; run < settings.Runs; run++)
                    foreach (var (label, binary) in daemons)
                    {
                        context.Cancellation.ThrowIfCancellationRequested();
                        var (rssKib, seconds) = RunDaemon(binary, store, certificates, kubeconfig, services, context);
                        rss[label].Add(rssKib / 1024.0);
                        firstSync[label].Add(seconds);
                        context.Progress($"apisource{label}: {services} Services, run {run + 1}: first list -> first sync {seconds:F2} s, RSS {rssKib / 1024.0:F1} MiB");
                    }
                foreach (var (label, _) in daemons)
                {
                    rows.Add(new ReportRow($"first list request -> first full sync, {services:N0} Services × {settings.EndpointsPerService}{label}", new Measurement("s", firstSync[label])));
                    rows.Add(new ReportRow($"daemon RSS after the first sync, {services:N0} Services × {settings.EndpointsPerService}{label}", new Measurement("MiB", rss[label])));
                }
            }
            return [new ReportSection("Kubernetes API source", Method(settings), rows)];
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private static FakeApiStore Populate(int services, int endpointsPerService)
    {
        var store = new FakeApiStore();
        store.Put(FakeApiStore.Nodes, ApiJson.Node("bench", "192.168.0.1", zone: "zone-a"));
        for (var i = 0; i < services; i++)
        {
            var name = SyntheticServices.ServiceName(i);
            store.Put(FakeApiStore.Services, ApiJson.Service(SyntheticServices.Namespace, name, SyntheticServices.ClusterIP(i).ToString(),
                SyntheticServices.ServicePort, SyntheticServices.TargetPort));
            store.Put(FakeApiStore.EndpointSlices, ApiJson.EndpointSlice(SyntheticServices.Namespace, name + "-slice", name, SyntheticServices.TargetPort,
                Enumerable.Range(0, endpointsPerService).Select(j => SyntheticServices.DefaultEndpoint(i, j).ToString())));
        }
        return store;
    }

    /// <summary>Starts the fake server in a scratch namespace and the daemon there; returns its RSS (KiB) and the first-list-to-sync time (s).</summary>
    private static (long RssKib, double Seconds) RunDaemon(string daemonBinary, FakeApiStore store, TestCertificates certificates, string kubeconfig, int services, BenchContext context)
    {
        using var namespaces = new TestNamespaces();
        var netns = namespaces.Add("api");
        using var bpffs = BpffsMount.Create();
        var server = FakeApiServer.StartAsync(store, certificates, NetnsListener.Create(netns, ApiEndpoint), ApiEndpoint.Port).GetAwaiter().GetResult();
        try
        {
            server.RequiredToken = Token;
            var sizes = ProgrammedMaps.SizesFor(services, 4);
            string[] arguments =
            [
                "run", "--kubeconfig", kubeconfig, "--bpffs-root", Path.Combine(bpffs.Path, "pr"),
                "--workload-interfaces", "prt-bench-none-*", "--hostname-override", "bench",
                "--healthz-bind-address", "127.0.0.1:10256", "--metrics-bind-address", "127.0.0.1:10249",
                "--frontend-map-size", sizes.Frontends.ToString(CultureInfo.InvariantCulture),
                "--backend-map-size", sizes.Backends.ToString(CultureInfo.InvariantCulture),
            ];
            var synced = $"{services} services";
            long syncedAt = 0;
            using var daemon = BackgroundProcess.Start("ip", ["netns", "exec", netns, daemonBinary, .. arguments], line =>
            {
                if (!line.Contains("Synced (", StringComparison.Ordinal) || !line.Contains(synced, StringComparison.Ordinal))
                    return false;
                Interlocked.CompareExchange(ref syncedAt, Stopwatch.GetTimestamp(), 0);
                return true;
            });
            daemon.WaitUntilReady(SyncTimeout, context.Cancellation);
            var rss = ProcField(daemon.Pid, "VmRSS");
            var seconds = Stopwatch.GetElapsedTime(server.FirstRequestTimestamp, Interlocked.Read(ref syncedAt)).TotalSeconds;
            return (rss, seconds);
        }
        finally
        {
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>A kubeconfig for the fake server at <paramref name="endpoint"/> (default: this suite's) with a bearer token (also the churn soak's).</summary>
    internal static string WriteKubeconfig(string directory, TestCertificates certificates, IPEndPoint? endpoint = null, string token = Token)
    {
        var path = Path.Combine(directory, "kubeconfig");
        var ca = Convert.ToBase64String(Encoding.UTF8.GetBytes(certificates.CaPem));
        File.WriteAllText(path, $"""
            apiVersion: v1
            kind: Config
            current-context: bench
            clusters:
            - name: fake
              cluster:
                server: https://{endpoint ?? ApiEndpoint}
                certificate-authority-data: {ca}
            contexts:
            - name: bench
              context: {"{cluster: fake, user: proxy}"}
            users:
            - name: proxy
              user: {"{token: " + token + "}"}
            """);
        return path;
    }

    private static long ProcField(int pid, string field)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(line[(field.Length + 1)..].Replace("kB", "", StringComparison.Ordinal).Trim(), CultureInfo.InvariantCulture);
    }

    private static string DaemonBinary
    {
        get
        {
            var root = typeof(ApiSourceSuite).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == "RepositoryRoot").Value!;
            var path = Path.Combine(root, "bin", "service-proxy");
            return File.Exists(path) ? path : throw new FileNotFoundException($"{path} is missing: run `make build` first", path);
        }
    }

    private static string Method(BenchSettings settings) =>
        "The real daemon (`bin/service-proxy run --kubeconfig FILE`, the published build) in a scratch network namespace with a " +
        "private bpffs, against the in-process fake API server (tests/ServiceProxy.Tests/Kubernetes/FakeApi, Kestrel, TLS with a " +
        "test CA and a bearer token) listening on that namespace's loopback and holding N Services × " + settings.EndpointsPerService +
        " endpoints (one EndpointSlice each) and one Node. The daemon lists every resource in pages of 500, then watches. " +
        "*First list → first sync*: from the server's first request to the moment the harness reads the daemon's " +
        "`Synced (...): N services` line (the dataplane is programmed then). *RSS*: VmRSS from /proc/PID/status at that moment. " +
        "With `PR_BENCH_BASELINE_DAEMON=PATH` another build (e.g. the previous commit's `bin/publish/service-proxy`) runs too, " +
        "alternating with this one run by run, for a before/after under the same load. " +
        "The server runs in the harness process and shares the machine's 2 cores with the daemon: its JSON encoding is part of the time.";
}
