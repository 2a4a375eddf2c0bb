using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text;
using Prometheus;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Telemetry;

namespace ProxyReplacement.ServiceProxy.Daemon;

/// <summary>A monotonically increasing count: one label set of a <see cref="Counter{T}"/> that also keeps its own total.</summary>
public sealed class MetricCounter
{
    private readonly Counter<long>? _instrument;
    private readonly KeyValuePair<string, object?>[] _tags;
    private long _value;

    /// <summary>A counter that is exported by nobody (tests).</summary>
    public MetricCounter() : this(null) { }

    public MetricCounter(Counter<long>? instrument, params KeyValuePair<string, object?>[] tags)
    {
        _instrument = instrument;
        _tags = tags;
    }

    public long Value => Interlocked.Read(ref _value);

    public void Increment(long by = 1)
    {
        Interlocked.Add(ref _value, by);
        _instrument?.Add(by, _tags);
    }
}

/// <summary>The outcomes of the periodic drift checks (<c>proxyreplacement_drift_checks_total{outcome}</c>).</summary>
public sealed record DriftCheckCounters(MetricCounter Clean, MetricCounter Drift, MetricCounter Superseded, MetricCounter Failed)
{
    /// <summary>Counters exported by nobody (tests).</summary>
    public DriftCheckCounters() : this(new MetricCounter(), new MetricCounter(), new MetricCounter(), new MetricCounter()) { }
}

/// <summary>A value that goes up and down, read by an <see cref="ObservableGauge{T}"/> when metrics are collected.</summary>
public sealed class MetricGauge
{
    private long _bits;
    public double Value => BitConverter.Int64BitsToDouble(Interlocked.Read(ref _bits));
    public void Set(double value) => Interlocked.Exchange(ref _bits, BitConverter.DoubleToInt64Bits(value));
}

/// <summary>
/// The daemon's metrics, declared once as <see cref="System.Diagnostics.Metrics"/> instruments on <see cref="Meter"/>
/// (<see cref="MeterName"/>): prometheus-net serves them from <see cref="Registry"/> under exactly these names
/// (<see cref="PrometheusMeterBridge"/>), with the standard <c>process_*</c> metrics, and an OTLP collector gets the
/// same instruments (<see cref="OtlpTelemetry"/>). kube-proxy's metrics keep kube-proxy's names and types, so its
/// dashboards and alerts work unchanged; ours keep the <c>proxyreplacement_</c> prefix.
/// </summary>
/// <remarks>
/// To add a metric: declare it in the constructor with <see cref="Counter"/>, <see cref="Gauge"/>,
/// <see cref="ObservableCounter"/>, <see cref="ObservableGauge"/> or <see cref="Histogram"/> (name, help, label names
/// in order); durations are histograms in seconds with explicit buckets. The scrape test checks the exposition.
/// </remarks>
public sealed class ProxyMetrics : IInstrumentLabels, IDisposable
{
    public const string MeterName = "ProxyReplacement";

    /// <summary>kube-proxy's buckets for sync durations: 1 ms doubling to 16 s.</summary>
    public static readonly double[] SyncDurationBuckets = Enumerable.Range(0, 15).Select(i => 0.001 * Math.Pow(2, i)).ToArray();

    /// <summary>kube-proxy's buckets for the network programming latency: 0.25 s to 5 min.</summary>
    public static readonly double[] NetworkProgrammingBuckets =
        new[] { 0.25, 0.5 }
            .Concat(Enumerable.Range(1, 59).Select(i => (double)i))
            .Concat(Enumerable.Range(0, 12).Select(i => 60.0 + 5 * i))
            .Concat(Enumerable.Range(0, 7).Select(i => 120.0 + 30 * i))
            .ToArray();

    private readonly ConcurrentDictionary<string, string[]> _labelNames = new(StringComparer.Ordinal);
    private readonly PrometheusMeterBridge _bridge;
    private readonly MetricGauge _lastSync = new();
    private readonly Counter<long> _syncPaths;
    private readonly MetricGauge _lastQueued = new();

    public ProxyMetrics()
    {
        Meter = new Meter(MeterName);
        Registry = Prometheus.Metrics.NewCustomRegistry();
        _bridge = new PrometheusMeterBridge(Meter, Registry, this);
        ProcessMetrics.Register(Registry);

        // kube-proxy's (pkg/proxy/metrics): names, types and buckets as kube-proxy has them.
        SyncDuration = Histogram("kubeproxy_sync_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds (every sync).", SyncDurationBuckets);
        FullSyncDuration = Histogram("kubeproxy_sync_full_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for full resyncs (maps re-read, drift repaired).", SyncDurationBuckets);
        PartialSyncDuration = Histogram("kubeproxy_sync_partial_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for partial (triggered) syncs.", SyncDurationBuckets);
        NetworkProgrammingDuration = Histogram("kubeproxy_network_programming_duration_seconds",
            "In-cluster network programming latency in seconds: from an EndpointSlice's last-change-trigger-time to the map write that applied it.",
            NetworkProgrammingBuckets);
        ObservableGauge("kubeproxy_sync_proxy_rules_last_timestamp_seconds", "The last time proxy rules were successfully synced (Unix seconds).",
            () => Once(_lastSync.Value));
        ObservableGauge("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", "The last time a sync of proxy rules was queued (Unix seconds).",
            () => Once(_lastQueued.Value));
        ObservableCounter("kubeproxy_sync_proxy_rules_endpoint_changes_total", "Cumulative proxy rules EndpointSlice changes.",
            () => Once(ChangeStats?.Invoke().EndpointChanges ?? 0));
        ObservableGauge("kubeproxy_sync_proxy_rules_endpoint_changes_pending", "Pending proxy rules EndpointSlice changes.",
            () => Once(ChangeStats?.Invoke().EndpointChangesPending ?? 0));
        ObservableCounter("kubeproxy_sync_proxy_rules_service_changes_total", "Cumulative proxy rules Service changes.",
            () => Once(ChangeStats?.Invoke().ServiceChanges ?? 0));
        ObservableGauge("kubeproxy_sync_proxy_rules_service_changes_pending", "Pending proxy rules Service changes.",
            () => Once(ChangeStats?.Invoke().ServiceChangesPending ?? 0));

        // Ours.
        var syncs = Counter("proxyreplacement_sync_total", "Syncs of the NAT maps by kind.", "kind");
        SyncsFull = new MetricCounter(syncs, new KeyValuePair<string, object?>("kind", "full"));
        SyncsTriggered = new MetricCounter(syncs, new KeyValuePair<string, object?>("kind", "triggered"));
        SyncWrites = new MetricCounter(Counter("proxyreplacement_sync_writes_total", "Map writes applied by syncs."));
        _syncPaths = Counter("proxyreplacement_sync_path_total",
            "Syncs by how their writes were built: incremental (only the changed Services), or a rebuild of everything and why.", "path", "reason");
        SyncProblems = new MetricCounter(Counter("proxyreplacement_sync_problems_total", "Failed or deferred map writes (retried by the next sync)."));
        var drift = Counter("proxyreplacement_drift_checks_total",
            "Periodic checks of the maps against the last sync, run beside the sync loop, by outcome: clean, drift (a full " +
            "resync repaired it), superseded (a sync wrote meanwhile: not conclusive), failed.", "outcome");
        DriftChecks = new DriftCheckCounters(
            new MetricCounter(drift, new KeyValuePair<string, object?>("outcome", "clean")),
            new MetricCounter(drift, new KeyValuePair<string, object?>("outcome", "drift")),
            new MetricCounter(drift, new KeyValuePair<string, object?>("outcome", "superseded")),
            new MetricCounter(drift, new KeyValuePair<string, object?>("outcome", "failed")));
        HeapReclaims = new MetricCounter(Counter("proxyreplacement_heap_reclaims_total",
            "Compacting collections after large syncs (memory given back after a burst)."));
        ManifestErrors = new MetricCounter(Counter("proxyreplacement_manifest_errors_total", "Malformed manifest objects reported."));
        ManifestObjectsSkipped = GaugeOf("proxyreplacement_manifest_objects_skipped", "Manifest objects currently skipped as malformed.");
        SourceErrors = new MetricCounter(Counter("proxyreplacement_source_errors_total", "Failures reading the Service source."));
        InterfaceAttaches = new MetricCounter(Counter("proxyreplacement_interface_attach_total", "TC program attachments to workload interfaces."));
        InterfaceAttachErrors = new MetricCounter(Counter("proxyreplacement_interface_attach_errors_total", "Failed TC attachments."));
        AttachedInterfaces = GaugeOf("proxyreplacement_attached_interfaces", "Workload interfaces with our TC program attached.");
        AttachedHostInterfaces = GaugeOf("proxyreplacement_attached_host_interfaces", "Host data interfaces with our host-interface TC program attached.");
        Services = GaugeOf("proxyreplacement_services", "Services in the current snapshot.");
        SocketLbHooks = GaugeOf("proxyreplacement_socket_lb_hooks", "Socket hooks (connect-time balancing) attached by this daemon.");
        SocketLbErrors = new MetricCounter(Counter("proxyreplacement_socket_lb_errors_total", "Failures setting up the socket hooks."));
        ObservableGauge("proxyreplacement_dataplane_variant", "The build of each loaded BPF object (1): fast, or compat for older kernels.",
            () => ObjectVariants.OrderBy(pair => pair.Key, StringComparer.Ordinal)
                .Select(pair => new Measurement<double>(1, new("object", pair.Key), new("variant", pair.Value))),
            "object", "variant");
        ObservableCounter("proxyreplacement_dataplane_packets_total", "Packets (and socket calls) by dataplane verdict reason.",
            () => (DataplaneCounters?.Invoke() ?? new Dictionary<CounterReason, ulong>()).OrderBy(pair => pair.Key)
                .Select(pair => new Measurement<double>(pair.Value, new KeyValuePair<string, object?>("reason", SnakeCase(pair.Key.ToString())))),
            "reason");
        Kubernetes = new Kubernetes.KubernetesMetrics(this);
        Conntrack = new Conntrack.ConntrackMetrics(this);
        SocketTermination = new Conntrack.SocketTerminationMetrics(this);
        ServiceHealth = new Health.ServiceHealthMetrics(this);
        Routing = new Routing.RoutingMetrics(this);
        Policy = new Policy.PolicyMetrics(this);
    }

    /// <summary>The meter every instrument of the daemon is declared on (an OTLP exporter subscribes by <see cref="MeterName"/>).</summary>
    public Meter Meter { get; }

    /// <summary>The registry <c>/metrics</c> serves (prometheus-net).</summary>
    public CollectorRegistry Registry { get; }

    public Histogram<double> SyncDuration { get; }
    public Histogram<double> FullSyncDuration { get; }
    public Histogram<double> PartialSyncDuration { get; }
    public Histogram<double> NetworkProgrammingDuration { get; }

    public MetricCounter SyncsFull { get; }
    public MetricCounter SyncsTriggered { get; }
    public MetricCounter SyncWrites { get; }
    public MetricCounter SyncProblems { get; }
    public MetricCounter HeapReclaims { get; }
    public DriftCheckCounters DriftChecks { get; }
    public MetricCounter ManifestErrors { get; }
    public MetricGauge ManifestObjectsSkipped { get; }
    public MetricCounter SourceErrors { get; }
    public MetricCounter InterfaceAttaches { get; }
    public MetricCounter InterfaceAttachErrors { get; }
    public MetricGauge AttachedInterfaces { get; }
    public MetricGauge AttachedHostInterfaces { get; }
    public MetricGauge Services { get; }
    public MetricGauge SocketLbHooks { get; }
    public MetricCounter SocketLbErrors { get; }
    public Kubernetes.KubernetesMetrics Kubernetes { get; }
    public Conntrack.ConntrackMetrics Conntrack { get; }
    public Conntrack.SocketTerminationMetrics SocketTermination { get; }
    public Health.ServiceHealthMetrics ServiceHealth { get; }
    public Routing.RoutingMetrics Routing { get; }
    public Policy.PolicyMetrics Policy { get; }

    /// <summary>The build of each BPF object the daemon loaded, by object (tc_nat, sock_lb, sock_destroy): "fast" or "compat" (older kernels).</summary>
    public ConcurrentDictionary<string, string> ObjectVariants { get; } = new(StringComparer.Ordinal);

    /// <summary>Reads the dataplane's verdict counters at collection time (null: not loaded, the family stays empty).</summary>
    public Func<IReadOnlyDictionary<CounterReason, ulong>?>? DataplaneCounters { get; set; }

    /// <summary>Reads the change tracker's counters at collection time.</summary>
    public Func<Tracking.ChangeTrackerStats>? ChangeStats { get; set; }

    /// <summary>A sync completed now (<c>kubeproxy_sync_proxy_rules_last_timestamp_seconds</c>).</summary>
    public void RecordSyncTime(DateTimeOffset now) => _lastSync.Set(now.ToUnixTimeMilliseconds() / 1000.0);

    /// <summary>A change queued a sync (<c>kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds</c>).</summary>
    public void RecordQueued(DateTimeOffset now) => _lastQueued.Set(now.ToUnixTimeMilliseconds() / 1000.0);

    /// <summary>Counts one sync under <c>proxyreplacement_sync_path_total{path, reason}</c> (reason "none" when incremental).</summary>
    public void RecordSyncPath(Sync.SyncPath path) =>
        _syncPaths.Add(1, new KeyValuePair<string, object?>("path", path.Kind),
            new KeyValuePair<string, object?>("reason", path.Incremental ? "none" : path.ReasonLabel));

    public double LastSyncTimestamp => _lastSync.Value;
    public double LastQueuedTimestamp => _lastQueued.Value;

    // ---- declarations -----------------------------------------------------------------------------------------

    public Counter<long> Counter(string name, string description, params string[] labels)
    {
        _labelNames[name] = labels;
        return Meter.CreateCounter<long>(name, unit: null, description);
    }

    public Histogram<double> Histogram(string name, string description, IReadOnlyList<double> buckets, params string[] labels)
    {
        _labelNames[name] = labels;
        return Meter.CreateHistogram(name, unit: "s", description, tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = buckets });
    }

    public void ObservableGauge(string name, string description, Func<IEnumerable<Measurement<double>>> observe, params string[] labels)
    {
        _labelNames[name] = labels;
        Meter.CreateObservableGauge(name, observe, unit: null, description);
    }

    public void ObservableCounter(string name, string description, Func<IEnumerable<Measurement<double>>> observe, params string[] labels)
    {
        _labelNames[name] = labels;
        Meter.CreateObservableCounter(name, observe, unit: null, description);
    }

    /// <summary>A gauge set by the code that knows the value, read at collection time.</summary>
    public MetricGauge GaugeOf(string name, string description)
    {
        var gauge = new MetricGauge();
        ObservableGauge(name, description, () => Once(gauge.Value));
        return gauge;
    }

    IReadOnlyList<string> IInstrumentLabels.LabelNamesOf(string instrument) => _labelNames.GetValueOrDefault(instrument) ?? [];

    private static Measurement<double>[] Once(double value) => [new Measurement<double>(value)];

    /// <summary>The Prometheus text exposition, as <c>/metrics</c> serves it.</summary>
    public async Task<string> ScrapeAsync(CancellationToken cancellationToken = default)
    {
        using var stream = new MemoryStream();
        await Registry.CollectAndExportAsTextAsync(stream, cancellationToken).ConfigureAwait(false);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    public static string SnakeCase(string pascal)
    {
        var builder = new StringBuilder();
        for (var i = 0; i < pascal.Length; i++)
        {
            if (char.IsUpper(pascal[i]) && i > 0)
                builder.Append('_');
            builder.Append(char.ToLowerInvariant(pascal[i]));
        }
        return builder.ToString();
    }

    public void Dispose()
    {
        _bridge.Dispose();
        Meter.Dispose();
    }
}
