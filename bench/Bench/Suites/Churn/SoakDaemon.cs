using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Support;
using ProxyReplacement.Bench.Workload;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tests.Support;
using ProxyReplacement.E2E.Tests.Support;
using ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi;

namespace ProxyReplacement.Bench.Suites.Churn;

/// <summary>One <c>Synced (...)</c> line of the daemon's log: when the harness read it, and what the pass did.</summary>
public sealed record SyncLine(long Timestamp, bool Full, int Services, int Writes, int Problems, double Milliseconds);

/// <summary>
/// The soaked daemon: <c>bin/service-proxy run</c> in a scratch network namespace (<c>prt-xxxx-soak</c>) with a private bpffs,
/// reading a manifest directory or the fake API server (in this process, listening on that namespace's loopback), with the
/// daemon's default sync intervals. Every log line is read as it comes: the <c>Synced</c> lines give each pass's exact
/// duration, the manifest source's <c>Loaded</c> lines its re-reads, and warnings and errors are kept. Dispose stops it
/// with SIGTERM (SIGKILL after 15 s) and removes the server, the bpffs and the namespace.
/// </summary>
internal sealed partial class SoakDaemon : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(5);
    private static readonly IPEndPoint MetricsEndpoint = new(IPAddress.Loopback, 10249);
    private static readonly IPEndPoint ApiEndpoint = new(IPAddress.Loopback, 6443);
    private const string Token = "soak-token";

    private readonly TestNamespaces _namespaces = new();
    private readonly ConcurrentQueue<SyncLine> _syncs = new();
    private readonly ConcurrentQueue<string> _warnings = new();
    private BpffsMount? _bpffs;
    private TestCertificates? _certificates;
    private FakeApiServer? _server;
    private BackgroundProcess? _process;
    private long _reloads;
    private long _warningCount;

    private SoakDaemon()
    {
    }

    public string Netns { get; private set; } = "";
    public string PinRoot { get; private set; } = "";
    public int Pid => _process!.Pid;
    public bool HasExited => _process!.HasExited;
    public string Output => _process?.Output ?? "";

    /// <summary>Re-reads of the manifest directory (its <c>Loaded</c> lines) so far.</summary>
    public long Reloads => Interlocked.Read(ref _reloads);

    /// <summary>Warning, error and critical lines so far.</summary>
    public long WarningCount => Interlocked.Read(ref _warningCount);

    /// <summary>The first warning and error lines (at most 20 kept).</summary>
    public IReadOnlyList<string> Warnings => _warnings.ToArray();

    /// <summary>
    /// Starts the daemon on <paramref name="source"/> (a manifest directory at <paramref name="manifests"/>, or
    /// <paramref name="store"/> served by the fake API server) and waits for its first sync of <paramref name="services"/> Services.
    /// </summary>
    public static SoakDaemon Start(ChurnSource source, string work, string? manifests, FakeApiStore? store, int services, int poolSize,
        BenchContext context)
    {
        var daemon = new SoakDaemon();
        try
        {
            daemon.Netns = daemon._namespaces.Add("soak");
            daemon._bpffs = BpffsMount.Create();
            daemon.PinRoot = Path.Combine(daemon._bpffs.Path, "pr");
            var sizes = ProgrammedMaps.SizesFor(poolSize, ChurnCluster.MaxEndpoints);
            List<string> arguments = ["run"];
            if (source == ChurnSource.ManifestDirectory)
                arguments.AddRange(["--manifest-dir", manifests!]);
            else
            {
                daemon._certificates = TestCertificates.Create();
                daemon._server = FakeApiServer.StartAsync(store!, daemon._certificates, NetnsListener.Create(daemon.Netns, ApiEndpoint), ApiEndpoint.Port)
                    .GetAwaiter().GetResult();
                daemon._server.RequiredToken = Token;
                arguments.AddRange(["--kubeconfig", ApiSourceSuite.WriteKubeconfig(work, daemon._certificates, ApiEndpoint, Token)]);
            }
            arguments.AddRange([
                "--bpffs-root", daemon.PinRoot,
                "--workload-interfaces", "prt-bench-none-*", "--host-interfaces", "prt-bench-none-*", "--hostname-override", "bench",
                "--healthz-bind-address", "127.0.0.1:10256", "--metrics-bind-address", MetricsEndpoint.ToString(),
                "--frontend-map-size", sizes.Frontends.ToString(CultureInfo.InvariantCulture),
                "--backend-map-size", sizes.Backends.ToString(CultureInfo.InvariantCulture),
            ]);
            var ready = $": {services} services,";
            daemon._process = BackgroundProcess.Start("ip", ["netns", "exec", daemon.Netns, MemorySuite.DaemonBinary, .. arguments],
                line => daemon.Read(line) is { } sync && sync.Services == services && line.Contains(ready, StringComparison.Ordinal));
            daemon._process.WaitUntilReady(StartTimeout, context.Cancellation);
            return daemon;
        }
        catch
        {
            daemon.Dispose();
            throw;
        }
    }

    /// <summary>The Synced lines read since the last call.</summary>
    public List<SyncLine> TakeSyncs()
    {
        var taken = new List<SyncLine>();
        while (_syncs.TryDequeue(out var line))
            taken.Add(line);
        return taken;
    }

    /// <summary>VmRSS of the daemon, KiB (`ip netns exec` execs it: the pid is the daemon's).</summary>
    public long RssKib() => StatusField("VmRSS");

    public long StatusField(string field)
    {
        var line = File.ReadLines($"/proc/{Pid}/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(line[(field.Length + 1)..].Replace("kB", "", StringComparison.Ordinal).Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>The daemon's /metrics, or null when it did not answer within 10 s.</summary>
    public MetricsText? Scrape()
    {
        var response = NetnsHttp.TryGetAsync(Netns, MetricsEndpoint, "/metrics", TimeSpan.FromSeconds(10)).GetAwaiter().GetResult();
        return response is { Status: 200 } ? MetricsText.Parse(response.Body) : null;
    }

    private SyncLine? Read(string line)
    {
        if (line.Contains(" warn: ", StringComparison.Ordinal) || line.Contains(" fail: ", StringComparison.Ordinal)
            || line.Contains(" crit: ", StringComparison.Ordinal))
        {
            if (Interlocked.Increment(ref _warningCount) <= 20)
                _warnings.Enqueue(line);
        }
        if (line.Contains("ManifestDirectorySource", StringComparison.Ordinal) && line.Contains(" Loaded ", StringComparison.Ordinal))
            Interlocked.Increment(ref _reloads);
        var match = SyncedPattern().Match(line);
        if (!match.Success)
            return null;
        var sync = new SyncLine(Stopwatch.GetTimestamp(), match.Groups[1].Value == "Full",
            int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture), int.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture),
            int.Parse(match.Groups[4].Value, CultureInfo.InvariantCulture), double.Parse(match.Groups[5].Value, CultureInfo.InvariantCulture));
        _syncs.Enqueue(sync);
        return sync;
    }

    [GeneratedRegex(@"Synced \((\w+)\): (\d+) services, (\d+) writes, (\d+) problems in ([0-9.]+) ms")]
    private static partial Regex SyncedPattern();

    private const int SigTerm = 15;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    public void Dispose()
    {
        var failures = new List<Exception>();
        void Try(Action action)
        {
            try
            {
                action();
            }
            catch (Exception error)
            {
                failures.Add(error);
            }
        }
        Try(() =>
        {
            if (_process is { HasExited: false })
            {
                _ = Kill(_process.Pid, SigTerm);
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
                while (!_process.HasExited && DateTime.UtcNow < deadline)
                    Thread.Sleep(100);
            }
            _process?.Dispose(); // SIGKILL if SIGTERM did not end it
        });
        Try(() => _server?.DisposeAsync().AsTask().GetAwaiter().GetResult());
        Try(() => _certificates?.Dispose());
        Try(() => _bpffs?.Dispose());
        Try(() => _namespaces.Dispose());
        if (failures.Count > 0)
            throw new AggregateException("cleaning up the soaked daemon", failures);
    }
}
