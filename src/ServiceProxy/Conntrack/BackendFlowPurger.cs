using ProxyReplacement.ServiceProxy.Sync;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.ServiceProxy.Conntrack;

/// <summary>
/// Deletes the conntrack entries of flows NATed to backends that left their Service (<see cref="RemovedBackends"/>),
/// forward and reverse entry together, so that the next datagram of such a flow is balanced again to a live
/// backend instead of following its entry into a black hole. Runs in the sync loop right after the Syncer's writes
/// (the frontend no longer counts the backend, so the re-balanced packet cannot pick it again). One read of pr_ct4
/// per sync that removed something; nothing when nothing was removed.
/// </summary>
/// <remarks>
/// The socket hooks connect sockets straight to a backend (no conntrack entry); those sockets are terminated
/// (bpf_sock_destroy) by <see cref="SocketTerminator"/>, called from the same step with the (frontend, endpoint) pairs
/// whose endpoint is gone (<see cref="RemovedBackends.Gone"/>, TCP and UDP): one comparison of the commit's snapshots
/// serves both, each with its own rule (conntrack follows what the dataplane balances to, as kube-proxy does; sockets
/// are aborted only once their endpoint is really gone, as Cilium does, so a terminating pod drains its connections).
/// <para>
/// External flows to a backend on another node (SNAT, tunnel, DSR) are purged on the ingress node, where their forward
/// entry is: it is keyed and NATed like any other (client to frontend, NAT to the backend), and its reverse entry is
/// found through <see cref="ConntrackSweep.ReverseOf"/> (the SNAT source for a SNATed flow). On the backend's node, the
/// flow's tunnel-return or DSR reverse entry is left to its timeout: it only routes the gone backend's replies, and the
/// flow is re-balanced by the ingress node's daemon, which sees the same Service change and purges its forward entry.
/// </para>
/// </remarks>
public sealed partial class BackendFlowPurger
{
    private readonly IBpfMap<ConntrackKey4, ConntrackValue4> _conntrack;
    private readonly ConntrackMetrics _metrics;
    private readonly ILogger _logger;
    private readonly IReadOnlySet<L4Protocol> _protocols;

    public BackendFlowPurger(IBpfMap<ConntrackKey4, ConntrackValue4> conntrack, ConntrackMetrics metrics, ILogger logger, IReadOnlySet<L4Protocol>? protocols = null)
    {
        _conntrack = conntrack;
        _metrics = metrics;
        _logger = logger;
        _protocols = protocols ?? RemovedBackends.DefaultProtocols;
    }

    /// <summary>
    /// Called after the conntrack purge with the (frontend, endpoint) pairs whose endpoint is gone, TCP and UDP
    /// (<see cref="RemovedBackends.Gone"/>): the daemon's <see cref="SocketTermination"/> aborts the sockets the hooks
    /// connected through them. Not called when nothing is gone.
    /// </summary>
    public Action<IReadOnlySet<FlowTarget>>? SocketTerminator { get; init; }

    /// <summary>The node addresses the Syncer builds NodePort frontends with (set by the daemon before each sync).</summary>
    public FrontendContext Context { get; set; } = FrontendContext.None;

    /// <summary>Purges the flows of the backends <paramref name="commit"/> removed; returns the number of entries deleted.</summary>
    public int AfterSync(TrackerCommit commit)
    {
        if (!commit.HasChanges)
            return 0;
        var removed = RemovedBackends.Between(commit.Previous, commit.Snapshot, commit.ChangedServices, _protocols, Context);
        var deleted = removed.Count == 0 ? 0 : Purge(removed);
        if (SocketTerminator is { } terminate)
        {
            var gone = RemovedBackends.Gone(commit.Previous, commit.Snapshot, commit.ChangedServices, RemovedBackends.SocketProtocols, Context);
            if (gone.Count > 0)
                terminate(gone);
        }
        return deleted;
    }

    /// <summary>Deletes every forward entry NATed to one of <paramref name="targets"/> and its reverse entry.</summary>
    public int Purge(IReadOnlySet<FlowTarget> targets)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var keys = Plan(_conntrack.ReadAll(), targets);
            var deleted = keys.Count == 0 ? 0 : _conntrack.DeleteBatch(keys.ToArray());
            _metrics.BackendPurges.Increment();
            _metrics.BackendPurgedEntries.Increment(deleted);
            LogPurged(_logger, targets.Count, string.Join(", ", targets.Take(5)) + (targets.Count > 5 ? ", ..." : ""), deleted,
                Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return deleted;
        }
        catch (BpfException error)
        {
            _metrics.BackendPurgeErrors.Increment();
            LogPurgeFailed(_logger, targets.Count, error.Message);
            return 0;
        }
    }

    /// <summary>The keys to delete, pure: forward entries whose (VIP:port/proto, backend) is a target, and their reverse entries.</summary>
    public static List<ConntrackKey4> Plan(IReadOnlyList<KeyValuePair<ConntrackKey4, ConntrackValue4>> entries, IReadOnlySet<FlowTarget> targets)
    {
        var keys = new List<ConntrackKey4>();
        if (targets.Count == 0)
            return keys;
        // Compared in the entries' own byte order: no address objects per entry.
        var wanted = targets.Select(t => (t.Frontend.VipNbo, t.Frontend.PortNbo, t.Frontend.Protocol, t.Backend.AddressNbo, t.Backend.PortNbo)).ToHashSet();
        foreach (var (key, value) in entries)
        {
            if (value.Type != ConntrackType.Forward ||
                !wanted.Contains((key.DestinationNbo, key.DestinationPortNbo, key.Protocol, value.NatAddressNbo, value.NatPortNbo)))
                continue;
            keys.Add(key);
            keys.Add(ConntrackSweep.ReverseOf(key, value));
        }
        return keys;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Backends removed from {Count} frontend(s) ({Targets}): deleted {Deleted} conntrack entries of their flows in {Milliseconds:F1} ms")]
    private static partial void LogPurged(ILogger logger, int count, string targets, int deleted, double milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot purge the flows of {Count} removed backend(s): {Reason}; they expire at their timeout")]
    private static partial void LogPurgeFailed(ILogger logger, int count, string reason);
}
