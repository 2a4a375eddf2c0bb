using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.SocketLb;
using ProxyReplacement.ServiceProxy.Daemon;

namespace ProxyReplacement.ServiceProxy.Conntrack;

/// <summary>How far socket termination works on this node (<see cref="SocketTermination.State"/>).</summary>
public enum SocketTerminationState
{
    /// <summary>Not started: no socket hooks (no <c>--cgroup-path</c>, mode disabled, or they failed to attach).</summary>
    Off,
    /// <summary>sock_destroy.bpf.o loaded: sockets of removed backends are aborted.</summary>
    Ready,
    /// <summary>The compat build (a kernel without bpf_sock_destroy): the sockets are found and counted, not aborted.</summary>
    CountOnly,
    /// <summary>Nothing loaded (no kernel BTF, a kernel before 5.11, another failure): removals are counted, nothing else.</summary>
    Unavailable,
}

/// <summary>
/// The daemon's socket termination: when endpoints are gone (<see cref="BackendFlowPurger.SocketTerminator"/>), the
/// sockets the socket hooks connected to them are aborted in every network namespace of the hooks' cgroup
/// (<see cref="CgroupNamespaces"/>, <see cref="SocketTerminator"/>), so their applications get ECONNABORTED and
/// reconnect to a live backend at once instead of hanging (TCP) or sending into a black hole (connected UDP).
/// Degrades with one warning at start where the kernel cannot (<see cref="SocketTerminationState"/>) and counts what
/// it could not do; a failure never reaches the sync loop.
/// </summary>
public sealed partial class SocketTermination : IDisposable
{
    private readonly Func<SocketTerminator> _load;
    private readonly string _cgroupPath;
    private readonly SocketTerminationMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Func<string, CgroupNamespaceScan> _scan;
    private SocketTerminator? _terminator;
    private bool _permissionWarned;

    /// <param name="load">Loads the terminator (<c>() =&gt; SocketTerminator.Load(core)</c>).</param>
    /// <param name="cgroupPath">The socket hooks' cgroup: its processes' namespaces are walked.</param>
    /// <param name="scan">Finds the namespaces of a cgroup tree (tests); <see cref="CgroupNamespaces.Find"/> by default.</param>
    public SocketTermination(Func<SocketTerminator> load, string cgroupPath, SocketTerminationMetrics metrics, ILogger logger,
        Func<string, CgroupNamespaceScan>? scan = null)
    {
        _load = load;
        _cgroupPath = cgroupPath;
        _metrics = metrics;
        _logger = logger;
        _scan = scan ?? (path => CgroupNamespaces.Find(path));
    }

    public SocketTerminationState State { get; private set; } = SocketTerminationState.Off;

    /// <summary>The build loaded (null when <see cref="State"/> is Off or Unavailable).</summary>
    public LoadedVariant? Variant => _terminator?.Variant;

    /// <summary>Loads the terminator; logs once what this node can do (a warning when it cannot terminate).</summary>
    public SocketTerminationState Start()
    {
        try
        {
            _terminator = _load();
            State = _terminator.CanDestroy ? SocketTerminationState.Ready : SocketTerminationState.CountOnly;
            if (State == SocketTerminationState.Ready)
                LogReady(_logger, _cgroupPath);
            else
                LogCountOnly(_logger, _terminator.Variant.Reason);
        }
        catch (BpfException error)
        {
            State = SocketTerminationState.Unavailable;
            LogUnavailable(_logger, error.Message);
        }
        _metrics.Supported.Set(State == SocketTerminationState.Ready ? 1 : 0);
        return State;
    }

    /// <summary>Aborts the sockets connected through <paramref name="gone"/> (TCP and UDP pairs; others are ignored).</summary>
    public void Terminate(IReadOnlySet<FlowTarget> gone)
    {
        ArgumentNullException.ThrowIfNull(gone);
        var targets = gone.Where(t => t.Frontend.L4 is L4Protocol.Tcp or L4Protocol.Udp).Select(t => new SocketDoomedKey4(t.Frontend, t.Backend)).ToList();
        if (targets.Count == 0 || State == SocketTerminationState.Off)
            return;
        if (_terminator is null)
        {
            _metrics.Runs(SocketTerminationMetrics.RunUnavailable).Increment();
            LogSkipped(_logger, targets.Count, Describe(targets));
            return;
        }
        try
        {
            var scan = _scan(_cgroupPath);
            var run = _terminator.Terminate(targets, scan.Namespaces);
            _metrics.Runs(SocketTerminationMetrics.RunDone).Increment();
            _metrics.Duration?.Record(run.Elapsed.TotalSeconds);
            Record(run, scan, targets);
        }
        catch (Exception error) when (error is BpfException or IOException or NetworkNamespaceException or UnauthorizedAccessException)
        {
            _metrics.Runs(SocketTerminationMetrics.RunFailed).Increment();
            LogFailed(_logger, targets.Count, error.Message);
        }
    }

    private void Record(SocketTerminationRun run, CgroupNamespaceScan scan, List<SocketDoomedKey4> targets)
    {
        foreach (var socket in run.Sockets)
        {
            if (socket.Destroyed)
                _metrics.Terminated(socket.Protocol).Increment();
            else
                _metrics.NotTerminated(socket.Result == SocketDestroyedRecord4.Unsupported ? SocketTerminationMetrics.Unsupported : SocketTerminationMetrics.Error)
                    .Increment();
            LogSocket(_logger, socket.ToString());
        }
        _metrics.NamespacesSkipped.Increment(run.Skipped.Count);
        _metrics.UnreachableProcesses.Set(scan.Unreachable);
        var destroyed = run.Destroyed;
        var found = run.Sockets.Count;
        if (found > 0)
        {
            if (destroyed == found)
                LogTerminated(_logger, destroyed, targets.Count, Describe(targets), run.Namespaces.Count, run.Elapsed.TotalMilliseconds);
            else
                LogNotTerminated(_logger, found - destroyed, found, targets.Count, Describe(targets),
                    State == SocketTerminationState.CountOnly ? "the kernel has no bpf_sock_destroy" : "bpf_sock_destroy failed: " +
                        string.Join(", ", run.Sockets.Where(s => !s.Destroyed).Select(s => $"errno {-s.Result}").Distinct()));
        }
        else
        {
            LogNothing(_logger, targets.Count, Describe(targets), run.Namespaces.Count, run.Elapsed.TotalMilliseconds);
        }
        var denied = run.Skipped.Where(s => s.Errno is Errno.EPERM or Errno.EACCES).ToList();
        if (denied.Count > 0 || scan.Unreachable > 0)
        {
            var reason = denied.Count > 0 ? denied[0].Reason
                : scan.Denied.Count > 0 ? $"/proc/{scan.Denied[0]}/ns/net: permission denied"
                : $"{scan.Invisible} of the cgroup's {scan.Processes} processes are outside this pid namespace";
            if (!_permissionWarned)
                LogNoPermission(_logger, denied.Count, scan.Unreachable, reason);
            else
                LogNoPermissionAgain(_logger, denied.Count, scan.Unreachable, reason);
            _permissionWarned = true;
        }
        foreach (var skipped in run.Skipped.Except(denied))
            LogNamespaceSkipped(_logger, skipped.Identity, skipped.Reason);
    }

    private static string Describe(List<SocketDoomedKey4> targets) =>
        string.Join(", ", targets.Take(5)) + (targets.Count > 5 ? ", ..." : "");

    public void Dispose() => _terminator?.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "Socket termination ready: sockets the hooks connected to a backend that leaves its Service are aborted (bpf_sock_destroy) in the network namespaces of cgroup {Cgroup}")]
    private static partial void LogReady(ILogger logger, string cgroup);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Socket termination unavailable: {Reason}. Clients stay connected to removed backends until they fail on their own (proxyreplacement_sockets_not_terminated_total counts them)")]
    private static partial void LogCountOnly(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Socket termination unavailable: {Reason}. Needs Linux 6.5 with BTF (5.11 to count the sockets); clients stay connected to removed backends until they fail on their own (proxyreplacement_socket_terminations_total{{result=\"unavailable\"}} counts the removals)")]
    private static partial void LogUnavailable(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Socket termination unavailable: {Count} removed target(s) not acted on ({Targets})")]
    private static partial void LogSkipped(ILogger logger, int count, string targets);

    [LoggerMessage(Level = LogLevel.Information, Message = "Terminated {Destroyed} socket(s) connected through {Count} removed target(s) ({Targets}) in {Namespaces} network namespace(s) in {Milliseconds:F1} ms")]
    private static partial void LogTerminated(ILogger logger, int destroyed, int count, string targets, int namespaces, double milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{NotDestroyed} of {Found} socket(s) connected through {Count} removed target(s) ({Targets}) were not terminated: {Why}")]
    private static partial void LogNotTerminated(ILogger logger, int notDestroyed, int found, int count, string targets, string why);

    [LoggerMessage(Level = LogLevel.Debug, Message = "No socket connected through {Count} removed target(s) ({Targets}) in {Namespaces} network namespace(s) ({Milliseconds:F1} ms)")]
    private static partial void LogNothing(ILogger logger, int count, string targets, int namespaces, double milliseconds);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Socket {Socket}")]
    private static partial void LogSocket(ILogger logger, string socket);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Socket termination cannot reach every network namespace of the cgroup's processes ({Namespaces} not entered, {Processes} processes unreadable: {Reason}): it needs the host's pid namespace (hostPID), CAP_SYS_ADMIN (setns) and CAP_SYS_PTRACE (other users' /proc/PID/ns/net); sockets there are not terminated (proxyreplacement_socket_termination_namespaces_skipped_total, proxyreplacement_socket_termination_unreachable_processes)")]
    private static partial void LogNoPermission(ILogger logger, int namespaces, int processes, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Socket termination cannot reach every network namespace ({Namespaces} not entered, {Processes} processes unreadable: {Reason})")]
    private static partial void LogNoPermissionAgain(ILogger logger, int namespaces, int processes, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Socket termination skipped network namespace {Identity}: {Reason}")]
    private static partial void LogNamespaceSkipped(ILogger logger, string identity, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Socket termination failed for {Count} removed target(s): {Reason}")]
    private static partial void LogFailed(ILogger logger, int count, string reason);
}

/// <summary>Metrics of socket termination, on <see cref="ProxyMetrics.Meter"/>. The parameterless constructor makes an unexported set (tests).</summary>
public sealed class SocketTerminationMetrics
{
    public const string RunDone = "done";
    public const string RunUnavailable = "unavailable";
    public const string RunFailed = "failed";
    public const string Unsupported = "unsupported";
    public const string Error = "error";

    private readonly Dictionary<string, MetricCounter> _runs;
    private readonly Dictionary<L4Protocol, MetricCounter> _terminated;
    private readonly Dictionary<string, MetricCounter> _notTerminated;

    public SocketTerminationMetrics()
    {
        _runs = new[] { RunDone, RunUnavailable, RunFailed }.ToDictionary(r => r, _ => new MetricCounter());
        _terminated = new[] { L4Protocol.Tcp, L4Protocol.Udp }.ToDictionary(p => p, _ => new MetricCounter());
        _notTerminated = new[] { Unsupported, Error }.ToDictionary(r => r, _ => new MetricCounter());
        NamespacesSkipped = new MetricCounter();
    }

    public SocketTerminationMetrics(ProxyMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        var runs = metrics.Counter("proxyreplacement_socket_terminations_total",
            "Socket termination runs after endpoints left a Service, by result: done, unavailable (the kernel cannot), failed.", "result");
        _runs = new[] { RunDone, RunUnavailable, RunFailed }.ToDictionary(r => r, r => new MetricCounter(runs, new KeyValuePair<string, object?>("result", r)));
        var terminated = metrics.Counter("proxyreplacement_sockets_terminated_total",
            "Sockets the socket hooks connected to a removed endpoint that were aborted (bpf_sock_destroy), by protocol.", "protocol");
        _terminated = new[] { L4Protocol.Tcp, L4Protocol.Udp }.ToDictionary(p => p,
            p => new MetricCounter(terminated, new KeyValuePair<string, object?>("protocol", p.ToString().ToLowerInvariant())));
        var notTerminated = metrics.Counter("proxyreplacement_sockets_not_terminated_total",
            "Sockets connected to a removed endpoint that were found but not aborted, by reason: unsupported (no bpf_sock_destroy), error.", "reason");
        _notTerminated = new[] { Unsupported, Error }.ToDictionary(r => r, r => new MetricCounter(notTerminated, new KeyValuePair<string, object?>("reason", r)));
        NamespacesSkipped = new MetricCounter(metrics.Counter("proxyreplacement_socket_termination_namespaces_skipped_total",
            "Network namespaces of the hooks' cgroup that socket termination could not enter (process gone, no permission)."));
        Duration = metrics.Histogram("proxyreplacement_socket_termination_duration_seconds", "Duration of the socket termination runs.",
            ProxyMetrics.SyncDurationBuckets);
        UnreachableProcesses = metrics.GaugeOf("proxyreplacement_socket_termination_unreachable_processes",
            "Processes of the hooks' cgroup whose network namespace the last run could not find (outside the daemon's pid namespace, or no permission).");
        Supported = metrics.GaugeOf("proxyreplacement_socket_termination_supported",
            "1 when sockets of removed endpoints are aborted on this node (socket hooks attached, bpf_sock_destroy loaded), else 0.");
    }

    public MetricCounter Runs(string result) => _runs[result];
    public MetricCounter Terminated(L4Protocol protocol) => _terminated[protocol];
    public MetricCounter NotTerminated(string reason) => _notTerminated[reason];
    public MetricCounter NamespacesSkipped { get; }
    public MetricGauge Supported { get; } = new();
    public MetricGauge UnreachableProcesses { get; } = new();
    internal Histogram<double>? Duration { get; }
}
