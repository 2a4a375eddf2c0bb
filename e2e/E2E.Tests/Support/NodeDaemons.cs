using System.Net;
using System.Text;
using ProxyReplacement.Dataplane.Tests.Netns;

namespace ProxyReplacement.E2E.Tests.Support;

/// <summary>
/// The <c>service-proxy run</c> processes of one node namespace, one after the other (a restart starts the next), all
/// with the same pin root, workload interfaces and node name; health and metrics on the namespace's loopback
/// (<see cref="HealthzEndpoint"/>, <see cref="MetricsEndpoint"/>). <see cref="ProxiedNode"/> has one, a
/// <see cref="ProxiedCluster"/> one per node. Dispose kills whichever still runs.
/// </summary>
internal sealed class NodeDaemons(string binary, string netns, string pinRoot, string workloadInterfaces, string nodeName, string labelPrefix = "")
    : IDisposable
{
    public static readonly IPEndPoint HealthzEndpoint = new(IPAddress.Loopback, 10256);
    public static readonly IPEndPoint MetricsEndpoint = new(IPAddress.Loopback, 10249);

    private readonly List<DaemonProcess> _daemons = [];

    public string Binary { get; } = binary;
    public string Namespace { get; } = netns;

    /// <summary>The daemons' <c>--bpffs-root</c>.</summary>
    public string PinRoot { get; } = pinRoot;

    /// <summary>The daemons' <c>--hostname-override</c>.</summary>
    public string NodeName { get; } = nodeName;

    /// <summary>The daemon started last (null before the first start).</summary>
    public DaemonProcess? Current => _daemons.LastOrDefault();

    /// <param name="sourceArguments">How the daemon finds its Services (e.g. <c>--manifest-dir DIR</c> or <c>--kubeconfig FILE</c>).</param>
    /// <param name="extraArguments">Added after the common arguments.</param>
    public DaemonProcess Start(IReadOnlyList<string> sourceArguments, IReadOnlyList<string> extraArguments)
    {
        string[] arguments =
        [
            "run",
            .. sourceArguments,
            "--bpffs-root", PinRoot,
            "--workload-interfaces", workloadInterfaces,
            "--healthz-bind-address", HealthzEndpoint.ToString(),
            "--metrics-bind-address", MetricsEndpoint.ToString(),
            "--min-sync-interval", "100ms",
            "--hostname-override", NodeName,
            .. extraArguments,
        ];
        var daemon = DaemonProcess.Start(Binary, Namespace, arguments, $"{labelPrefix}daemon #{_daemons.Count + 1}");
        _daemons.Add(daemon);
        return daemon;
    }

    /// <summary>
    /// Waits until <c>GET /readyz</c> answers 200 and <paramref name="programmed"/> (when given) holds. Fails the test
    /// early if the daemon exits meanwhile.
    /// </summary>
    /// <param name="programmed">What the test needs in the maps before it starts, e.g. its Service's frontend pinned.</param>
    public async Task<TimeSpan> WaitUntilReadyAsync(DaemonProcess daemon, Func<bool>? programmed = null, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        var (ready, elapsed) = await Poll.UntilAsync(async () =>
        {
            if (daemon.HasExited)
                Assert.Fail($"{daemon.Label} exited with code {daemon.ExitCode} before it was ready:\n{daemon.Output}");
            var response = await NetnsHttp.TryGetAsync(Namespace, HealthzEndpoint, "/readyz");
            if (response?.Status != 200)
                return null;
            return programmed is null || programmed() ? response : null;
        }, limit);
        if (ready is null)
            Assert.Fail($"{daemon.Label} not ready within {limit.TotalSeconds:0} s (GET /readyz = 200{(programmed is null ? "" : " and its Services programmed")})");
        return elapsed;
    }

    /// <summary>Runs a service-proxy subcommand inside the node namespace; returns its stdout, throws with its stderr on failure.</summary>
    public string RunCli(params string[] arguments) => IpCommand.InNamespace(Namespace, Binary, arguments);

    /// <summary>Each daemon's command line and log, then the current <c>dump</c>: what a failing test prints.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        foreach (var daemon in _daemons)
        {
            var state = daemon.HasExited ? $"exited with {daemon.ExitCode}" : "running";
            text.AppendLine($"----- {daemon.Label} ({state}): {daemon.CommandLine}");
            text.AppendLine(daemon.Output);
        }
        if (Directory.Exists(PinRoot))
        {
            text.AppendLine($"----- {labelPrefix}service-proxy dump");
            try
            {
                text.AppendLine(RunCli("dump", "--bpffs-root", PinRoot));
            }
            catch (Exception e)
            {
                text.AppendLine($"(dump failed: {e.Message})");
            }
        }
        return text.ToString();
    }

    public void Dispose()
    {
        var cleanup = new CleanupSteps();
        foreach (var daemon in _daemons)
            cleanup.Attempt(daemon);
        cleanup.ThrowIfAnyFailed($"{labelPrefix}daemons");
    }
}
