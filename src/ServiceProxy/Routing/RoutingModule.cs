using Microsoft.Extensions.Logging;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Sources;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Telemetry;

namespace ProxyReplacement.ServiceProxy.Routing;

/// <summary>What one routing pass did: the entries it built (with the Nodes' problems) and what the writer did.</summary>
public sealed record RouteSyncResult(DesiredRoutes Desired, RouteWriteResult Written);

/// <summary>
/// The routing module: owns <c>pr_routes4</c> and keeps it equal to what the cluster's Nodes say (pod CIDR or node
/// address -> owning node). Its place in the sync loop is <see cref="Sync"/>, called once per pass before the Service
/// NAT sync: it rebuilds (<see cref="RouteBuilder"/>, pure) and writes (<see cref="RouteWriter"/>, minimal writes) when
/// the Nodes changed, at every full resync (re-reading the map: drift repaired), and after a pass whose writes failed;
/// any other pass costs nothing. The Nodes' problems are logged when they first appear (and once when all are gone)
/// and counted in <c>proxyreplacement_route_conflicts</c>; failed writes are logged every time, counted in
/// <c>proxyreplacement_route_write_errors_total</c> and retried. Traced as <c>routes</c>.
/// </summary>
public sealed partial class RoutingModule
{
    private readonly INodeSource _nodes;
    private readonly RouteWriter _writer;
    private readonly RoutingMetrics _metrics;
    private readonly ILogger _logger;
    private volatile bool _nodesChanged = true; // the first pass always builds (and adopts what is pinned)
    private bool _retry;
    private HashSet<string> _reported = [];

    /// <param name="nodesChanged">Called after the Nodes changed (on the source's thread), to queue a sync.</param>
    public RoutingModule(IBpfMap<RouteKey4, RouteValue> map, INodeSource nodes, RoutingMetrics metrics, ILogger<RoutingModule> logger,
        Action? nodesChanged = null)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        _writer = new RouteWriter(map);
        _nodes = nodes;
        _metrics = metrics;
        _logger = logger;
        nodes.NodesChanged += () =>
        {
            _nodesChanged = true;
            nodesChanged?.Invoke();
        };
    }

    /// <summary>One pass (on the sync loop's thread); null when there was nothing to do (or it failed: logged, retried).</summary>
    /// <param name="full">A full resync: rebuild and re-read the map.</param>
    public RouteSyncResult? Sync(bool full)
    {
        if (!full && !_nodesChanged && !_retry)
            return null;
        _nodesChanged = false; // before reading the Nodes: a change from now on makes the next pass build again
        using var activity = ProxyActivitySources.Sync.StartActivity("routes");
        DesiredRoutes desired;
        RouteWriteResult written;
        try
        {
            desired = RouteBuilder.Build(_nodes.Nodes.Values, _nodes.NodeName);
            written = _writer.Apply(desired.Entries, reread: full);
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            // A module of its own: whatever goes wrong here must not stop the Service sync that follows.
            _retry = true;
            _metrics.WriteErrors.Increment();
            LogFailed(_logger, error);
            activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, error.Message);
            return null;
        }
        _retry = written.Problems.Count > 0;

        _metrics.Writes.Increment(written.Writes);
        _metrics.WriteErrors.Increment(written.Problems.Count);
        _metrics.Conflicts.Set(desired.Problems.Count);
        _metrics.RecordEntries(_writer.View.Values);
        ReportConflicts(desired.Problems);
        foreach (var problem in written.Problems)
            LogWriteFailed(_logger, problem.Reason);
        if (written.Writes > 0 || written.Problems.Count > 0)
            LogWritten(_logger, _writer.View.Count, desired.Entries.Count, written.Writes, written.Problems.Count, _nodes.Nodes.Count);

        activity?.SetTag("routes", desired.Entries.Count);
        activity?.SetTag("writes", written.Writes);
        activity?.SetTag("conflicts", desired.Problems.Count);
        activity?.SetTag("problems", written.Problems.Count);
        if (written.Problems.Count > 0)
            activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, written.Problems[0].ToString());
        return new RouteSyncResult(desired, written);
    }

    /// <summary>Logs each problem of the Nodes that the last build did not have; once when none are left.</summary>
    private void ReportConflicts(IReadOnlyList<SyncProblem> problems)
    {
        var now = problems.Select(problem => problem.Reason).ToHashSet(StringComparer.Ordinal);
        foreach (var reason in now.Where(reason => !_reported.Contains(reason)))
            LogConflict(_logger, reason);
        if (now.Count == 0 && _reported.Count > 0)
            LogConflictsResolved(_logger);
        _reported = now;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Routes: {Reason}")]
    private static partial void LogConflict(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Routes: the pass failed; retrying at the next sync")]
    private static partial void LogFailed(ILogger logger, Exception error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Routes: the Nodes' conflicts are resolved")]
    private static partial void LogConflictsResolved(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Routes: {Reason}; retrying at the next sync")]
    private static partial void LogWriteFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Routes: pr_routes4 holds {Entries} of {Desired} entries ({Writes} writes, {Failed} failed) for {Nodes} nodes")]
    private static partial void LogWritten(ILogger logger, int entries, int desired, int writes, int failed, int nodes);
}
