using Microsoft.Extensions.Logging;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.SocketLb;

namespace ProxyReplacement.ServiceProxy.Daemon;

/// <summary>
/// Puts connect-time balancing in the configured state at start: writes the mode into pr_config
/// (the programs read it per call), then attaches the socket hooks to the cgroup (pinned links;
/// a restart swaps the programs in atomically) or, with no cgroup or mode disabled, detaches the
/// hooks a previous run pinned. Before that it writes the daemon's own network namespace into
/// pr_host_netns: the hooks key ClientIP affinity of that namespace's sockets (host-network clients,
/// which no TC hook sees) by one host identity. The hooks stay attached when the daemon exits;
/// `cleanup` removes them. A failure is logged and counted; the TC path keeps serving every socket.
/// </summary>
public sealed partial class SocketLbAttacher(ILogger<SocketLbAttacher> logger, ProxyMetrics metrics)
{
    /// <returns>Whether the hooks are now in the configured state.</returns>
    public bool Apply(CoreDataplane dataplane, string pinRoot, string? cgroupPath, SocketLbMode mode)
    {
        ArgumentNullException.ThrowIfNull(dataplane);
        var effective = cgroupPath is null ? SocketLbMode.Disabled : mode;
        WriteHostNetns(dataplane);
        try
        {
            // Mode first: disabling takes effect before the detach, enabling is ready before the attach.
            dataplane.SetSocketLbMode(effective);
            if (effective == SocketLbMode.Disabled)
            {
                var removed = PinnedSocketHooks.Remove(pinRoot);
                foreach (var line in removed)
                    LogRemoved(logger, line);
                metrics.SocketLbHooks.Set(0);
                metrics.ObjectVariants.TryRemove("sock_lb", out _);
                LogOff(logger, cgroupPath is null ? "no --cgroup-path" : "--socket-lb-mode disabled");
                return true;
            }
            using var programs = SocketLoadBalancer.Load(dataplane);
            metrics.ObjectVariants["sock_lb"] = DataplaneVariants.Name(programs.Variant.Variant);
            if (programs.Variant.Variant == DataplaneVariant.Compat)
                LogCompat(logger, programs.Variant.Reason);
            var changes = PinnedSocketHooks.Ensure(pinRoot, cgroupPath!, programs);
            metrics.SocketLbHooks.Set(changes.Count);
            LogAttached(logger, mode, cgroupPath!, Cgroup.Id(cgroupPath!),
                string.Join(", ", changes.Select(change => $"{SocketHooks.Name(change.Key)} {change.Value.ToString().ToLowerInvariant()}")));
            return true;
        }
        catch (BpfException error)
        {
            metrics.SocketLbErrors.Increment();
            LogFailed(logger, cgroupPath ?? "(none)", error.Message);
            return false;
        }
    }

    /// <summary>
    /// The daemon runs in the host netns (hostNetwork in the DaemonSet), so its own namespace is the
    /// host's. Rewritten at every start; on failure the previous value stays (or 0: host-network
    /// sockets to affinity Services are then left untranslated, as unbound pod sockets are).
    /// </summary>
    private void WriteHostNetns(CoreDataplane dataplane)
    {
        try
        {
            var cookie = NetnsCookie.OfCurrentThread();
            dataplane.SetHostNetnsCookie(cookie);
            LogHostNetns(logger, cookie, NetworkNamespace.CurrentIdentity());
        }
        catch (Exception error) when (error is NetworkNamespaceException or BpfException)
        {
            metrics.SocketLbErrors.Increment();
            LogHostNetnsFailed(logger, error.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Socket LB: host network namespace is cookie {Cookie} ({Identity}): its sockets share one ClientIP-affinity identity")]
    private static partial void LogHostNetns(ILogger logger, ulong cookie, string identity);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Socket LB: cannot record the host network namespace: {Reason}; host-network clients of ClientIP-affinity Services are not balanced at the socket")]
    private static partial void LogHostNetnsFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Socket LB {Mode}: hooks on cgroup {Cgroup} (id {CgroupId}): {Changes}")]
    private static partial void LogAttached(ILogger logger, SocketLbMode mode, string cgroup, ulong cgroupId, string changes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Socket LB: compat programs ({Reason}); refusals are counted as sock_refuse_* all the same")]
    private static partial void LogCompat(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Socket LB off ({Why}): every socket is served by the TC path")]
    private static partial void LogOff(ILogger logger, string why);

    [LoggerMessage(Level = LogLevel.Information, Message = "Socket LB: {What}")]
    private static partial void LogRemoved(ILogger logger, string what);

    [LoggerMessage(Level = LogLevel.Error, Message = "Socket LB: cannot set up the hooks on cgroup {Cgroup}: {Reason}; the TC path serves all traffic")]
    private static partial void LogFailed(ILogger logger, string cgroup, string reason);
}
