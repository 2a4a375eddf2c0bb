using Microsoft.Extensions.Logging;
using ProxyReplacement.Dataplane;
using ProxyReplacement.ServiceProxy.Conntrack;
using ProxyReplacement.ServiceProxy.Options;
using ProxyReplacement.ServiceProxy.Pressure;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.ServiceProxy.Daemon;

/// <summary>
/// The reliability parts of the daemon around the Syncer, each in its own class: the conntrack timeouts written
/// into pr_config, the capacity gate in front of the Syncer (<see cref="BackendCapacityGate"/>), the purge of removed
/// backends' flows after it (<see cref="BackendFlowPurger"/>, with the termination of the sockets the hooks connected to
/// them, <see cref="SocketTermination"/>), map pressure at full resyncs
/// (<see cref="MapPressureMonitor"/>), and the periodic conntrack sweeper (<see cref="ConntrackSweeper"/>).
/// </summary>
public sealed partial class DataplaneMaintenance
{
    private readonly ProxyOptions _options;
    private readonly CoreDataplane _dataplane;
    private readonly ConntrackMetrics _metrics;
    private readonly ILogger _logger;
    private readonly BackendCapacityGate _gate;
    private readonly BackendFlowPurger _purger;
    private readonly MapPressureMonitor _pressure;
    private readonly ConntrackSweeper _sweeper;

    /// <param name="terminateSockets">Aborts the sockets the hooks connected to endpoints that are gone (<see cref="SocketTermination"/>); null: none.</param>
    public DataplaneMaintenance(ProxyOptions options, CoreDataplane dataplane, ConntrackMetrics metrics, ILoggerFactory loggers,
        Action<IReadOnlySet<FlowTarget>>? terminateSockets = null)
    {
        _options = options;
        _dataplane = dataplane;
        _metrics = metrics;
        _logger = loggers.CreateLogger<DataplaneMaintenance>();
        _gate = new BackendCapacityGate(dataplane.Backends.MaxEntries);
        _purger = new BackendFlowPurger(dataplane.Conntrack, metrics, loggers.CreateLogger<BackendFlowPurger>()) { SocketTerminator = terminateSockets };
        _pressure = new MapPressureMonitor(
        [
            new WatchedMap(dataplane.Frontends.Name, dataplane.Frontends.MaxEntries, () => dataplane.Frontends.ReadAll().Count),
            new WatchedMap(dataplane.Backends.Name, dataplane.Backends.MaxEntries, () => dataplane.Backends.ReadAll().Count),
            new WatchedMap(dataplane.Affinity.Name, dataplane.Affinity.MaxEntries, () => dataplane.Affinity.ReadAll().Count),
            new WatchedMap(dataplane.Conntrack.Name, dataplane.Conntrack.MaxEntries, () => dataplane.Conntrack.ReadAll().Count),
            new WatchedMap(dataplane.SocketReverse.Name, dataplane.SocketReverse.MaxEntries, () => dataplane.SocketReverse.ReadAll().Count),
            new WatchedMap(dataplane.Routes.Name, dataplane.Routes.MaxEntries, () => dataplane.Routes.ReadAll().Count),
        ], metrics, loggers.CreateLogger<MapPressureMonitor>());
        _sweeper = new ConntrackSweeper(dataplane.Conntrack, options.ConntrackTimeouts, metrics, loggers.CreateLogger<ConntrackSweeper>(),
            dataplane.Affinity, dataplane.Frontends);
    }

    /// <summary>Writes the configured conntrack timeouts into pr_config (keeping the rest of it).</summary>
    public void ApplyTimeouts()
    {
        var config = _options.ConntrackTimeouts.ApplyTo(_dataplane.ReadConfig());
        _dataplane.WriteConfig(config);
        LogTimeouts(_logger, config.TcpSynTimeoutSeconds, config.TcpEstablishedTimeoutSeconds, config.TcpClosingTimeoutSeconds,
            config.UdpTimeoutSeconds, config.GenericTimeoutSeconds, _options.ConntrackSweepInterval.TotalSeconds);
    }

    /// <summary>The commit the Syncer applies: Services whose backends do not fit are held back whole.</summary>
    public TrackerCommit BeforeSync(TrackerCommit commit)
    {
        var gated = _gate.Gate(commit);
        foreach (var held in _gate.NewlyHeld)
        {
            _metrics.ServicesNotFitting.Increment();
            LogHeldBack(_logger, held.Service.ToString(), held.Needed, held.Free, _dataplane.Backends.Name, _dataplane.Backends.MaxEntries,
                held.OlderVersionKept ? "its previous version stays programmed" : "it is not programmed");
        }
        _metrics.ServicesHeldBack.Set(_gate.Held.Count);
        return gated;
    }

    /// <summary>After the Syncer's writes: purge the flows of removed backends and terminate their sockets; at a full resync, count the maps.</summary>
    public void AfterSync(TrackerCommit applied, RunKind kind, FrontendContext context)
    {
        _purger.Context = context;
        _purger.AfterSync(applied);
        if (kind == RunKind.Full)
            _pressure.Check();
    }

    /// <summary>Counts the maps' entries (<c>proxyreplacement_map_entries</c>, warnings when nearly full); any thread.</summary>
    public void CheckPressure() => _pressure.Check();

    /// <summary>The sweeper, every <see cref="ProxyOptions.ConntrackSweepInterval"/> (not at all when it is zero).</summary>
    public Task RunAsync(CancellationToken cancellationToken) =>
        _options.ConntrackSweepInterval > TimeSpan.Zero
            ? _sweeper.RunAsync(_options.ConntrackSweepInterval, cancellationToken)
            : Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Conntrack timeouts: tcp syn {Syn} s, established {Established} s, closed {Closed} s, udp {Udp} s, other {Generic} s; sweep every {Sweep} s")]
    private static partial void LogTimeouts(ILogger logger, uint syn, uint established, uint closed, uint udp, uint generic, double sweep);

    [LoggerMessage(Level = LogLevel.Error, Message = "Service {Service} needs {Needed} backend entries but only {Free} fit in map {Map} (capacity {Capacity}): {Outcome}; raise --backend-map-size")]
    private static partial void LogHeldBack(ILogger logger, string service, int needed, int free, string map, int capacity, string outcome);
}
