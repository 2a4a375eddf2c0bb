using System.Diagnostics;
using System.Net;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.SocketLb;
using ProxyReplacement.ServiceProxy.Conntrack;
using ProxyReplacement.ServiceProxy.Health;
using ProxyReplacement.ServiceProxy.Options;
using ProxyReplacement.ServiceProxy.Routing;
using ProxyReplacement.ServiceProxy.Sources;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.ServiceProxy.Daemon;

/// <summary>
/// The daemon's main loop: loads (or adopts) the dataplane, sets up the socket hooks
/// (<see cref="SocketLbAttacher"/>), then runs three things side by side —
/// the source feeding the change tracker, the bounded-frequency sync runner writing the maps, and
/// the interface attacher. Stopping leaves the dataplane serving: programs stay attached and maps
/// stay pinned; only <c>cleanup</c> removes them.
/// </summary>
public sealed partial class ProxyDaemon : IDisposable
{
    private static readonly TimeSpan InterfacePollInterval = TimeSpan.FromSeconds(1);

    private readonly ProxyOptions _options;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly ChangeTracker _tracker = new();
    private CoreDataplane? _dataplane;
    private readonly IServiceSource _source;
    private SyncPass? _syncPass;
    private DataplaneMaintenance? _maintenance;
    private MultiNodeConfigWriter? _multiNode;
    private bool _cidrsWritten;
    private volatile FrontendContext _frontendContext = FrontendContext.None;
    private readonly Lock _frontendGate = new();
    private readonly HeapReclaimer _heap = new();
    private ServiceHealthServers? _healthChecks;
    private RoutingModule? _routing;
    private Policy.PolicyModule? _policy;
    private SocketTermination? _sockets;
    private Action? _trigger;
    private PeriodicDriftCheck? _drift;

    /// <param name="source">Where Services come from (<see cref="ServiceSources.Create"/>); the daemon owns and disposes it.</param>
    public ProxyDaemon(ProxyOptions options, ILoggerFactory loggers, ProxyMetrics metrics, HealthState health, IServiceSource source)
    {
        _source = source;
        _options = options;
        _loggers = loggers;
        _logger = loggers.CreateLogger<ProxyDaemon>();
        Metrics = metrics;
        Health = health;
        Metrics.DataplaneCounters = ReadDataplaneCounters;
        Metrics.ChangeStats = () => _tracker.Stats;
    }

    public ProxyMetrics Metrics { get; }
    public HealthState Health { get; }

    /// <summary>The verdict counters of the loaded dataplane, or null before it is loaded.</summary>
    public IReadOnlyDictionary<CounterReason, ulong>? ReadDataplaneCounters() => _dataplane?.ReadCounters();

    /// <summary>When each stage of the start happened (logged once after the first sync).</summary>
    public StartupTimeline Startup { get; } = new();

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        Startup.DaemonStarted();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var runner = new BoundedFrequencyRunner(RunSync, _options.MinSyncInterval, _options.SyncPeriod,
            logger: _loggers.CreateLogger<BoundedFrequencyRunner>());
        _trigger = runner.Trigger;
        // Every change that queues a sync stamps kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds.
        void Queue()
        {
            Metrics.RecordQueued(DateTimeOffset.UtcNow);
            runner.Trigger();
        }
        // A change counts for /healthz's timeout once the source is synced (before, nothing may be synced: kube-proxy alike).
        Action changed = () =>
        {
            if (_source.Synced)
            {
                Startup.SourceSynced();
                Health.QueuedUpdate();
            }
            Queue();
        };
        if (_source is INodeSource nodes)
        {
            nodes.NodesChanged += () => Health.ReportNode(nodes.ThisNode); // /healthz drains a node going away
            Health.ReportNode(nodes.ThisNode);
        }

        // The source lists and parses while the kernel verifies the programs: neither needs the other, and the first
        // sync (which needs both) runs as soon as the second is done.
        LogSource(_logger, _source.Description, _options.HostnameOverride);
        Startup.SourceStarted();
        var source = Task.Run(() => _source.RunAsync(_tracker, changed, stop.Token), stop.Token);
        var tasks = new List<Task> { source };
        try
        {
            var (attacher, hostAttacher) = LoadDataplane(Queue);
            tasks.AddRange(
            [
                Task.Run(() => runner.RunAsync(stop.Token), stop.Token),
                Task.Run(() => attacher.RunAsync(InterfacePollInterval, stop.Token), stop.Token),
                Task.Run(() => hostAttacher.RunAsync(InterfacePollInterval, stop.Token), stop.Token),
                Task.Run(() => WatchNodeAddressesAsync(Queue, stop.Token), stop.Token),
                Task.Run(() => _maintenance!.RunAsync(stop.Token), stop.Token),
            ]);
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // shutdown: the dataplane stays as it is
        }
        finally
        {
            // A failed start (the dataplane did not load) must not leave the source running.
            await stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll(tasks).ConfigureAwait(false);
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                // already reported above, or the cancellation itself
            }
        }
        LogStopped(_logger, _options.BpffsRoot);
    }

    /// <summary>Loads (or adopts) the dataplane and everything that writes into it; returns the interface attachers to run.</summary>
    private (InterfaceAttacher Workload, InterfaceAttacher Host) LoadDataplane(Action queue)
    {
        Startup.LoadStarted();
        var loading = System.Diagnostics.Stopwatch.StartNew();
        var dataplane = CoreDataplane.Load(new DataplaneOptions { PinRoot = _options.BpffsRoot, Sizes = _options.LoadedMapSizes });
        LogLoaded(_logger, dataplane.Variant.ToString(), _options.BpffsRoot,
            dataplane.AdoptedMaps.Count == 0 ? "none (fresh start)" : string.Join(", ", dataplane.AdoptedMaps.Order(StringComparer.Ordinal)),
            loading.Elapsed.TotalMilliseconds);
        Metrics.ObjectVariants["tc_nat"] = DataplaneVariants.Name(dataplane.Variant.Variant);

        // Sockets the hooks connected to endpoints that are gone are aborted in the hooks' cgroup's namespaces (started below
        // once the hooks are attached; until then, and without hooks, it does nothing).
        _sockets = _options.CgroupPath is { } cgroup
            ? new SocketTermination(() => SocketTerminator.Load(dataplane), cgroup, Metrics.SocketTermination, _loggers.CreateLogger<SocketTermination>())
            : null;
        _maintenance = new DataplaneMaintenance(_options, dataplane, Metrics.Conntrack, _loggers, _sockets is null ? null : _sockets.Terminate);
        _maintenance.ApplyTimeouts();
        _multiNode = new MultiNodeConfigWriter(_options.ExternalTraffic, _options.HostInterfaces, dataplane.ReadConfig, dataplane.WriteConfig,
            _loggers.CreateLogger<MultiNodeConfigWriter>());
        var hooksAttached = new SocketLbAttacher(_loggers.CreateLogger<SocketLbAttacher>(), Metrics)
            .Apply(dataplane, _options.BpffsRoot, _options.CgroupPath, _options.SocketLbMode);
        if (hooksAttached && _options.SocketLbMode != SocketLbMode.Disabled && _sockets is not null)
        {
            _sockets.Start();
            if (_sockets.Variant is { } variant)
                Metrics.ObjectVariants["sock_destroy"] = DataplaneVariants.Name(variant.Variant);
        }
        _healthChecks = new ServiceHealthServers(IPAddress.Any, () => Health.Healthy, Metrics.ServiceHealth,
            _loggers.CreateLogger<ServiceHealthServers>());
        if (_source is INodeSource nodes)
        {
            // pr_routes4 follows the Nodes: a change queues a pass, which rebuilds the routes (RoutingModule.Sync).
            _routing = new RoutingModule(dataplane.Routes, nodes, Metrics.Routing, _loggers.CreateLogger<RoutingModule>(), nodesChanged: queue);
        }
        if (_source is IPolicySource policies)
        {
            // The policy maps follow the Pods, Namespaces and NetworkPolicies (none with --network-policy=false: the maps are emptied).
            _policy = new Policy.PolicyModule(dataplane.PolicyEndpoints, dataplane.PolicyPorts, dataplane.PolicyPeers, policies,
                (_source as INodeSource)?.NodeName ?? _options.HostnameOverride, Metrics.Policy, _loggers.CreateLogger<Policy.PolicyModule>(), changed: queue,
                namesPath: Policy.PolicyNames.PathFor(_options.BpffsRoot));
        }
        // Workload veths: the NAT (and NetworkPolicy egress) at ingress, NetworkPolicy's ingress check at egress.
        var attacher = new InterfaceAttacher(_options.WorkloadInterfaces, dataplane.FromWorkload,
            _loggers.CreateLogger<InterfaceAttacher>(), Metrics, egressProgram: dataplane.ToWorkload);
        var hostAttacher = new InterfaceAttacher(_options.HostInterfaces, dataplane.FromHost,
            _loggers.CreateLogger<InterfaceAttacher>(), Metrics, Metrics.AttachedHostInterfaces);
        _dataplane = dataplane;
        foreach (var recreated in dataplane.RecreatedMaps)
            LogRecreated(_logger, recreated.Name, recreated.OldMaxEntries, recreated.NewMaxEntries);
        UpdateFrontendContext();
        if (dataplane.ResizedMaps.Count > 0)
        {
            // Resized maps: swap the TC programs now (the socket hooks were swapped above), then carry over what the old
            // programs wrote into the old maps since the load.
            attacher.Reconcile();
            hostAttacher.Reconcile();
            foreach (var resized in dataplane.FinishResize())
                LogResized(_logger, resized.Name, resized.OldMaxEntries, resized.NewMaxEntries, resized.Copied + resized.CaughtUp, resized.NotCopied);
        }
        // Last: the sync loop starts once this is set.
        // The fast path off (--direct-table-size 0): its one-slot map stays empty, pr_config's mask 0 tells the programs.
        _syncPass = new SyncPass(_tracker, new Syncer(dataplane.Frontends, dataplane.Backends, logger: _loggers.CreateLogger<Syncer>(),
            sourceRanges: dataplane.LbSourceRanges, names: dataplane.ServiceNames,
            direct: _options.DirectTableSlots > 0 ? dataplane.Direct : null,
            directStartsEmpty: !dataplane.AdoptedMaps.Contains(CoreObjectNames.Direct)), Metrics);
        Startup.LoadEnded();
        return (attacher, hostAttacher);
    }

    private Task<RunOutcome> RunSync(RunKind kind, CancellationToken cancellationToken)
    {
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var (outcome, writesApplied) = SyncOnce(kind);
        // This thread's allocation (the drift check's thread allocates beside it), plus what a drift check whose verdict this
        // run took allocated: its garbage (both maps read, the desired state rebuilt) is the periodic resync's, moved off-thread.
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore + (_drift?.TakeCheckAllocation() ?? 0);
        // Here, not inside SyncOnce: the pass's commit and result (500k writes and 200k changes after a 100k-Service load)
        // are garbage only once its frame is gone. Collected while still referenced, they would be promoted to gen 2 and
        // then kept resident until some later full collection (about 30 MB at 100k Services).
        var reclaimStarted = Stopwatch.GetTimestamp();
        if (outcome == RunOutcome.Ran && _heap.AfterSync(writesApplied, allocated))
        {
            Metrics.HeapReclaims.Increment();
            LogHeapReclaimed(_logger, _heap.HeldAfterReclaim / 1048576.0, allocated / 1048576.0, Stopwatch.GetElapsedTime(reclaimStarted).TotalMilliseconds);
        }
        return Task.FromResult(outcome);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private (RunOutcome Outcome, int WritesApplied) SyncOnce(RunKind kind)
    {
        // Never sync before the source delivered its first full view: an empty snapshot would
        // delete every entry a previous daemon left serving. Such a run does not count: the first
        // real one starts at the source's trigger, not held back by the minimum interval.
        if (_source is not { Synced: true } || _syncPass is null || _dataplane is null)
            return (RunOutcome.NotReady, 0);

        var first = !Startup.FirstSyncDone;
        if (first)
        {
            Startup.FirstSyncStarted();
            UpdateFrontendContext(); // this Node may have been listed since the dataplane loaded: its addresses from the start
        }
        Health.SyncStarting();
        var pass = _syncPass;
        var maintenance = _maintenance!;
        pass.Syncer.Context = _frontendContext;
        // The periodic run re-reads the small maps itself, but leaves the NAT maps to a drift check beside this thread
        // (PeriodicDriftCheck): a full resync here only for the first sync, drift found, or a check that cannot be run.
        _drift ??= new PeriodicDriftCheck(pass.Syncer, () => _trigger?.Invoke(), _options.SyncPeriod, Metrics.DriftChecks,
            _loggers.CreateLogger<PeriodicDriftCheck>(), beside: maintenance.CheckPressure);
        var periodic = kind == RunKind.Full;
        var repair = _drift.TakeVerdict() == DriftVerdict.Repair;
        var check = periodic && !first && !repair && _drift.MayCheck;
        var full = repair || periodic && !check;
        var natKind = full ? RunKind.Full : RunKind.Triggered;
        _routing?.Sync(full: periodic); // before the NAT writes: a new node's routes exist before its backends
        _policy?.Sync(full: periodic);
        var (commit, result, elapsed) = pass.Run(full: full,
            beforeSync: maintenance.BeforeSync,
            alsoInside: committed =>
            {
                maintenance.AfterSync(committed, natKind, pass.Syncer.Context);
                if (!_cidrsWritten || periodic)
                    _cidrsWritten = WriteServiceCidrs();
            });
        if (full)
            _drift.FullResyncDone();
        else if (check)
            _drift.Start(); // after this run's writes, which would overtake it
        // Failed or held-back writes leave the change pending (the next sync retries them); a conflict in the snapshot does not.
        Health.RecordSync(applied: result.Problems.All(problem => problem.Kind == SyncProblemKind.Conflict));
        if (result.Applied.Count > 0 || result.Problems.Count > 0 || full)
            LogSynced(_logger, natKind, commit.Snapshot.Services.Count, result.Applied.Count, result.Problems.Count, elapsed.TotalMilliseconds);
        if (first && Startup.FirstSyncEnded())
            LogStartup(_logger, Startup.Summary());
        _healthChecks?.Update(ServiceHealthChecks.Desired(commit.Snapshot, (_source as INodeSource)?.NodeName ?? _options.HostnameOverride));
        return (RunOutcome.Ran, result.Applied.Count);
    }

    /// <summary>
    /// Re-resolves the NodePort addresses every interface poll (the host's interfaces, or this Node object's addresses
    /// with the Kubernetes source) and triggers a sync when they changed: frontends follow an address added to or
    /// removed from the node within about a second.
    /// </summary>
    private async Task WatchNodeAddressesAsync(Action trigger, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(InterfacePollInterval);
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            if (UpdateFrontendContext())
                trigger();
    }

    /// <summary>Computes the frontend context; true when it changed (logged). Called by the sync loop and the address poll.</summary>
    private bool UpdateFrontendContext()
    {
        lock (_frontendGate)
            return UpdateFrontendContextLocked();
    }

    private bool UpdateFrontendContextLocked()
    {
        var node = (_source as INodeSource)?.ThisNode;
        IReadOnlyList<InterfaceAddress> host;
        try
        {
            host = NodeAddresses.OfHost();
        }
        catch (System.Net.NetworkInformation.NetworkInformationException error)
        {
            LogAddressesFailed(_logger, error.Message);
            return false;
        }
        var context = new FrontendContext(
            NodeAddresses.Resolve(node, host, _options.HostInterfaces, _options.NodePortAddresses), _options.ServiceNodePortRange,
            NodeContext.Of((_source as INodeSource)?.NodeName ?? _options.HostnameOverride, node));
        _multiNode?.Update(node, host, context.NodePortAddresses); // pr_config's node address and tunnel MTU follow the node too
        if (context.Equals(_frontendContext))
            return false;
        _frontendContext = context;
        LogNodeAddresses(_logger, string.Join(", ", context.NodePortAddresses), node is null ? "host interfaces" : $"Node {node.Name}",
            _options.NodePortAddresses.ToString());
        return true;
    }

    /// <summary>Makes the Service CIDR map hold exactly the configured ranges.</summary>
    private bool WriteServiceCidrs()
    {
        var map = _dataplane!.ServiceCidrs;
        var desired = _options.ServiceCidrs.Select(c => new ServiceCidrKey4(c.Network, c.PrefixLength)).ToHashSet();
        try
        {
            foreach (var key in desired)
                map.Update(key, default);
            foreach (var (key, _) in map.ReadAll())
                if (!desired.Contains(key))
                    map.Delete(key);
            return true;
        }
        catch (BpfException error)
        {
            LogCidrFailed(_logger, error.Message);
            return false;
        }
    }

    public void Dispose()
    {
        _healthChecks?.Dispose();
        _sockets?.Dispose();
        (_source as IDisposable)?.Dispose();
        _dataplane?.Dispose(); // closes fds only: pins and attachments stay
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Dataplane loaded in {Milliseconds:F0} ms: tc_nat build {Variant}; maps pinned under {Root}; adopted: {Adopted}")]
    private static partial void LogLoaded(ILogger logger, string variant, string root, string adopted, double milliseconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Startup: {Timeline}")]
    private static partial void LogStartup(ILogger logger, string timeline);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Map {Map} resized from {Old} to {New} entries: {Copied} entries migrated, {Lost} did not fit")]
    private static partial void LogResized(ILogger logger, string map, uint old, uint @new, int copied, int lost);

    [LoggerMessage(Level = LogLevel.Information, Message = "Map {Map} was pinned with {Old} entries, {New} are configured: recreated empty at the new size (the sync refills it)")]
    private static partial void LogRecreated(ILogger logger, string map, uint old, uint @new);

    [LoggerMessage(Level = LogLevel.Information, Message = "Source: {Source}; node {Node}")]
    private static partial void LogSource(ILogger logger, string source, string node);

    [LoggerMessage(Level = LogLevel.Information, Message = "Synced ({Kind}): {Services} services, {Writes} writes, {Problems} problems in {Milliseconds:F1} ms")]
    private static partial void LogSynced(ILogger logger, RunKind kind, int services, int writes, int problems, double milliseconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "Cannot write the Service CIDR map: {Reason}; retrying at the next sync")]
    private static partial void LogCidrFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "NodePort addresses: [{Addresses}] (from {From}; --nodeport-addresses {Filter})")]
    private static partial void LogNodeAddresses(ILogger logger, string addresses, string from, string filter);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot list the host's addresses: {Reason}; NodePort frontends keep the last ones")]
    private static partial void LogAddressesFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Heap reclaimed after a burst: {HeapMiB:F1} MiB held (the sync allocated {AllocatedMiB:F1} MiB; collected in {Milliseconds:F1} ms)")]
    private static partial void LogHeapReclaimed(ILogger logger, double heapMiB, double allocatedMiB, double milliseconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopped; the dataplane keeps serving from {Root} (run `service-proxy cleanup` to remove it)")]
    private static partial void LogStopped(ILogger logger, string root);
}
