using System.Net;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Options;

/// <summary>
/// Everything the daemon and the CLI are configured with. Names follow kube-proxy where kube-proxy
/// has the same knob. Built by <see cref="ProxyOptionsBuilder"/> from a config file and flags.
/// </summary>
public sealed record ProxyOptions
{
    public const string DefaultBpffsRoot = "/sys/fs/bpf/proxy-replacement";

    /// <summary>The source: a directory of Service/EndpointSlice manifests (the embedded default).</summary>
    public string? ManifestDir { get; init; }

    /// <summary>Which source to use (<c>--source</c>); see <see cref="Sources.SourceSelection"/>.</summary>
    public SourceKind Source { get; init; } = SourceKind.Auto;

    /// <summary>The kubeconfig of the Kubernetes source (kube-proxy <c>--kubeconfig</c>); null: <c>KUBECONFIG</c>, then in-cluster.</summary>
    public string? Kubeconfig { get; init; }

    /// <summary>kube-proxy's <c>service.kubernetes.io/service-proxy-name</c>: serve only Services labelled with it.</summary>
    public string? ServiceProxyName { get; init; }

    /// <summary>How long an API request may take to answer (a list: to complete).</summary>
    public TimeSpan ApiTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>This node's name (kube-proxy <c>--hostname-override</c>).</summary>
    public string HostnameOverride { get; init; } = Environment.MachineName;

    /// <summary>Health endpoint (kube-proxy <c>--healthz-bind-address</c>); null disables it.</summary>
    public IPEndPoint? HealthzBindAddress { get; init; } = new(IPAddress.Any, 10256);

    /// <summary>Metrics endpoint (kube-proxy <c>--metrics-bind-address</c>); null disables it.</summary>
    public IPEndPoint? MetricsBindAddress { get; init; } = new(IPAddress.Loopback, 10249);

    /// <summary>Where the maps are pinned; must be on a bpffs.</summary>
    public string BpffsRoot { get; init; } = DefaultBpffsRoot;

    /// <summary>Name patterns of workload (pod) interfaces, host side.</summary>
    public InterfacePatterns WorkloadInterfaces { get; init; } = InterfacePatterns.Parse("veth*,cali*,lxc*");

    /// <summary>Name patterns of host data interfaces (NodePort and external traffic).</summary>
    public InterfacePatterns HostInterfaces { get; init; } = InterfacePatterns.Parse("eth*,ens*,enp*");

    /// <summary>kube-proxy's <c>--nodeport-addresses</c>: the node addresses that serve NodePorts (default all).</summary>
    public NodePortAddressFilter NodePortAddresses { get; init; } = NodePortAddressFilter.All;

    /// <summary>The valid NodePort range (the API server's <c>--service-node-port-range</c>); nodePorts outside it are reported and skipped.</summary>
    public PortRange ServiceNodePortRange { get; init; } = PortRange.DefaultNodePorts;

    /// <summary>cgroup v2 directory for the socket hooks of connect-time balancing; null: no hooks.</summary>
    public string? CgroupPath { get; init; }

    /// <summary>Connect-time balancing (Calico's modes): disabled, tcp (TCP only, the default), enabled (TCP and UDP).</summary>
    public SocketLbMode SocketLbMode { get; init; } = SocketLbMode.Tcp;

    /// <summary>External traffic to backends on other nodes: the mode (snat, tunnel, dsr), the tunnel and the SNAT ports.</summary>
    public ExternalTrafficOptions ExternalTraffic { get; init; } = new();

    /// <summary>The cluster's Service CIDRs: unclaimed addresses inside them are rejected.</summary>
    public IReadOnlyList<Ipv4Cidr> ServiceCidrs { get; init; } = [Ipv4Cidr.Parse("10.96.0.0/12")];

    /// <summary>
    /// Minimum time between the starts of two syncs (kube-proxy <c>minSyncPeriod</c>, same meaning): a change that follows
    /// the previous sync sooner waits for the rest; changes meanwhile are coalesced into one sync. The first sync never waits.
    /// </summary>
    public TimeSpan MinSyncInterval { get; init; } = DefaultMinSyncInterval;

    /// <summary>
    /// The default <see cref="MinSyncInterval"/>: short, unlike kube-proxy's 1 s. Its writes are a whole table per sync, ours
    /// the changed entries only, so holding a change buys little. Measured (BENCHMARKS.md, "The sync runner's minimum interval
    /// under a storm of changes": 500 slice changes 0.1 ms apart at 10k Services): no interval took about 480 syncs (12 ms of
    /// syncing), 1 ms 50, 5 ms 12, 20 ms 4 (5-8 ms: each sync writes only what changed), while a change's p99 grew with the
    /// interval (0.7, 3.7, 6.2, 23 ms). 1 ms takes most of the batching for little latency.
    /// </summary>
    public static readonly TimeSpan DefaultMinSyncInterval = TimeSpan.FromMilliseconds(1);

    /// <summary>Maximum time between full resyncs that repair drift (kube-proxy <c>syncPeriod</c>).</summary>
    public TimeSpan SyncPeriod { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The map sizes of <c>--*-map-size</c>; what the daemon loads is <see cref="LoadedMapSizes"/>.</summary>
    public CoreMapSizes MapSizes { get; init; } = new();

    /// <summary><c>--direct-table-size</c> (<see cref="Options.DirectTableSize"/>): null for <c>auto</c>, else the slots (0: off).</summary>
    public int? DirectTableSize { get; init; }

    /// <summary>The fast path's slots: the option, or for <c>auto</c> the first Service CIDR's addresses (capped); 0: off.</summary>
    public int DirectTableSlots => DirectTableSize ?? Options.DirectTableSize.Auto(ServiceCidrs);

    /// <summary>The sizes the daemon loads the maps with: <see cref="MapSizes"/> and the fast path's slots (1 when it is off: the map must exist).</summary>
    public CoreMapSizes LoadedMapSizes => MapSizes with { DirectSlots = Math.Max(1, DirectTableSlots) };

    /// <summary>Idle timeouts of conntrack entries, written into pr_config at start (<c>--conntrack-*-timeout</c>).</summary>
    public Conntrack.ConntrackTimeouts ConntrackTimeouts { get; init; } = new();

    /// <summary>How often the sweeper deletes expired conntrack and affinity entries; zero disables it.</summary>
    public TimeSpan ConntrackSweepInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// <c>--network-policy</c>: enforce Kubernetes NetworkPolicy (the policy module watches Pods, Namespaces and
    /// NetworkPolicies and writes the policy maps). Off: none of them is read and the policy maps stay empty.
    /// </summary>
    public bool NetworkPolicy { get; init; } = true;

    /// <summary>kube-proxy's <c>--cleanup</c>: remove everything ours and exit.</summary>
    public bool Cleanup { get; init; }

    /// <summary>The Kubernetes components' <c>--logging-format</c>: text (one line per event) or json (one object per line).</summary>
    public LoggingFormat LoggingFormat { get; init; } = LoggingFormat.Text;

    /// <summary>Where to send traces and metrics over OTLP; null: <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>, or no export.</summary>
    public Uri? OtlpEndpoint { get; init; }
}

public enum LoggingFormat
{
    Text,
    Json,
}
