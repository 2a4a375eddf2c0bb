using System.Globalization;
using System.Text;
using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Daemon;

/// <summary>A monotonically increasing count.</summary>
public sealed class MetricCounter
{
    private long _value;
    public long Value => Interlocked.Read(ref _value);
    public void Increment(long by = 1) => Interlocked.Add(ref _value, by);
}

/// <summary>A value that goes up and down.</summary>
public sealed class MetricGauge
{
    private long _bits;
    public double Value => BitConverter.Int64BitsToDouble(Interlocked.Read(ref _bits));
    public void Set(double value) => Interlocked.Exchange(ref _bits, BitConverter.DoubleToInt64Bits(value));
}

/// <summary>
/// The daemon's own metrics and their Prometheus text rendering (no Prometheus package is
/// obtainable here). Dataplane verdict counters are read from the kernel at scrape time.
/// </summary>
public sealed class ProxyMetrics
{
    public MetricCounter SyncsFull { get; } = new();
    public MetricCounter SyncsTriggered { get; } = new();
    public MetricCounter SyncWrites { get; } = new();
    public MetricCounter SyncProblems { get; } = new();
    public MetricCounter HeapReclaims { get; } = new();
    public MetricGauge LastSyncSeconds { get; } = new();
    public MetricGauge LastSyncDurationSeconds { get; } = new();
    public MetricCounter ManifestErrors { get; } = new();
    public MetricGauge ManifestObjectsSkipped { get; } = new();
    public MetricCounter SourceErrors { get; } = new();
    public MetricCounter InterfaceAttaches { get; } = new();
    public MetricCounter InterfaceAttachErrors { get; } = new();
    public MetricGauge AttachedInterfaces { get; } = new();
    public MetricGauge AttachedHostInterfaces { get; } = new();
    public MetricGauge Services { get; } = new();
    public MetricGauge SocketLbHooks { get; } = new();
    public MetricCounter SocketLbErrors { get; } = new();
    public Kubernetes.KubernetesMetrics Kubernetes { get; } = new();
    public Conntrack.ConntrackMetrics Conntrack { get; } = new();
    public Health.ServiceHealthMetrics ServiceHealth { get; } = new();

    /// <summary>The build of each BPF object the daemon loaded, by object (tc_nat, sock_lb): "fast" or "compat" (older kernels).</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, string> ObjectVariants { get; } = new(StringComparer.Ordinal);

    public string Render(IReadOnlyDictionary<CounterReason, ulong>? dataplaneCounters)
    {
        var text = new StringBuilder();
        Counter(text, "proxyreplacement_sync_total", "Syncs of the NAT maps by kind.",
            ("kind=\"full\"", SyncsFull.Value), ("kind=\"triggered\"", SyncsTriggered.Value));
        Counter(text, "proxyreplacement_sync_writes_total", "Map writes applied by syncs.", ("", SyncWrites.Value));
        Counter(text, "proxyreplacement_sync_problems_total", "Failed or deferred map writes (retried by the next sync).", ("", SyncProblems.Value));
        Counter(text, "proxyreplacement_heap_reclaims_total", "Compacting collections after large syncs (memory given back after a burst).", ("", HeapReclaims.Value));
        Gauge(text, "proxyreplacement_sync_last_timestamp_seconds", "Unix time of the last completed sync.", LastSyncSeconds.Value);
        Gauge(text, "proxyreplacement_sync_last_duration_seconds", "Duration of the last sync.", LastSyncDurationSeconds.Value);
        Counter(text, "proxyreplacement_manifest_errors_total", "Malformed manifest objects reported.", ("", ManifestErrors.Value));
        Gauge(text, "proxyreplacement_manifest_objects_skipped", "Manifest objects currently skipped as malformed.", ManifestObjectsSkipped.Value);
        Counter(text, "proxyreplacement_source_errors_total", "Failures reading the Service source.", ("", SourceErrors.Value));
        Counter(text, "proxyreplacement_interface_attach_total", "TC program attachments to workload interfaces.", ("", InterfaceAttaches.Value));
        Counter(text, "proxyreplacement_interface_attach_errors_total", "Failed TC attachments.", ("", InterfaceAttachErrors.Value));
        Gauge(text, "proxyreplacement_attached_interfaces", "Workload interfaces with our TC program attached.", AttachedInterfaces.Value);
        Gauge(text, "proxyreplacement_attached_host_interfaces", "Host data interfaces with our host-interface TC program attached.", AttachedHostInterfaces.Value);
        Gauge(text, "proxyreplacement_services", "Services in the current snapshot.", Services.Value);
        Gauge(text, "proxyreplacement_socket_lb_hooks", "Socket hooks (connect-time balancing) attached by this daemon.", SocketLbHooks.Value);
        Counter(text, "proxyreplacement_socket_lb_errors_total", "Failures setting up the socket hooks.", ("", SocketLbErrors.Value));
        Kubernetes.Render(text);
        Conntrack.Render(text);
        ServiceHealth.Render(text);
        if (!ObjectVariants.IsEmpty)
        {
            text.Append("# HELP proxyreplacement_dataplane_variant The build of each loaded BPF object (1): fast, or compat for older kernels.\n");
            text.Append("# TYPE proxyreplacement_dataplane_variant gauge\n");
            foreach (var (obj, variant) in ObjectVariants.OrderBy(pair => pair.Key, StringComparer.Ordinal))
                text.Append("proxyreplacement_dataplane_variant{object=\"").Append(obj).Append("\",variant=\"").Append(variant).Append("\"} 1\n");
        }
        if (dataplaneCounters is not null)
        {
            Counter(text, "proxyreplacement_dataplane_packets_total", "Packets by dataplane verdict reason.",
                dataplaneCounters.OrderBy(pair => pair.Key)
                    .Select(pair => ($"reason=\"{SnakeCase(pair.Key.ToString())}\"", (long)pair.Value)).ToArray());
        }
        return text.ToString();
    }

    internal static void Counter(StringBuilder text, string name, string help, params (string Labels, long Value)[] samples)
    {
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        text.Append("# TYPE ").Append(name).Append(" counter\n");
        foreach (var (labels, value) in samples)
            text.Append(name).Append(labels.Length > 0 ? "{" + labels + "}" : "").Append(' ')
                .Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
    }

    internal static void Gauge(StringBuilder text, string name, string help, double value)
    {
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        text.Append("# TYPE ").Append(name).Append(" gauge\n");
        text.Append(name).Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
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
}
