namespace ProxyReplacement.ServiceProxy.Options;

/// <summary>
/// How each option of <see cref="ProxyOptionsBuilder"/> is shown by <c>service-proxy run --help</c> and completed by the
/// shell: the value's placeholder, the description (with its default) and, for a closed set, the accepted values.
/// The command line (<c>Cli/CommandLine</c>) builds one System.CommandLine option per name of
/// <see cref="ProxyOptionsBuilder.OptionNames"/>, so a new option appears in <c>--help</c> and is parsed as soon as it
/// has a setter there; give it a line here too (a test fails until every option has one). What a value means and
/// what is wrong with it stays in <see cref="ProxyOptionsBuilder"/>.
/// </summary>
public static class ProxyOptionHelp
{
    /// <param name="Value">The placeholder in the usage line (<c>--bpffs-root &lt;DIR&gt;</c>).</param>
    /// <param name="Accepted">The closed set of values, offered as completions; empty: any value.</param>
    public sealed record Entry(string Value, string Description, params string[] Accepted);

    private static readonly Dataplane.CoreMapSizes Sizes = new();

    public static readonly IReadOnlyDictionary<string, Entry> Entries = new Dictionary<string, Entry>(StringComparer.Ordinal)
    {
        ["config"] = new("FILE", "YAML config file; its keys are the option names in camelCase (bpffsRoot: ...); flags win over it"),
        ["source"] = new("auto|kubernetes|manifest",
            "Where Services come from [default: auto: the API with --kubeconfig, KUBECONFIG or in a pod; the directory with --manifest-dir]",
            "auto", "kubernetes", "manifest"),
        ["kubeconfig"] = new("FILE", "kubeconfig of the Kubernetes API source [default: KUBECONFIG, then in-cluster]"),
        ["service-proxy-name"] = new("NAME", "Serve only Services labelled service.kubernetes.io/service-proxy-name=NAME [default: those without the label]"),
        ["api-timeout"] = new("DURATION", "Kubernetes API request timeout [default: 30s]"),
        ["manifest-dir"] = new("DIR", "Directory of Service/EndpointSlice manifests (watched)"),
        ["hostname-override"] = new("NAME", "This node's name [default: the host name]"),
        ["healthz-bind-address"] = new("IP:PORT", "Health server (/healthz, /readyz); empty disables [default: 0.0.0.0:10256]"),
        ["metrics-bind-address"] = new("IP:PORT", "Metrics server (/metrics, Prometheus); empty disables [default: 127.0.0.1:10249]"),
        ["bpffs-root"] = new("DIR", $"Pin directory on a bpffs [default: {ProxyOptions.DefaultBpffsRoot}]"),
        ["workload-interfaces"] = new("GLOBS", "Pod veth name patterns, comma-separated [default: veth*,cali*,lxc*]"),
        ["host-interfaces"] = new("GLOBS", "Host data interface name patterns (NodePort) [default: eth*,ens*,enp*]"),
        ["nodeport-addresses"] = new("CIDRS|primary",
            "Node addresses that serve NodePorts: comma-separated CIDRs and/or primary (kube-proxy --nodeport-addresses) [default: every address]"),
        ["service-node-port-range"] = new("FIRST-LAST", "The valid NodePort range; nodePorts outside it are reported and skipped [default: 30000-32767]"),
        ["cgroup-path"] = new("DIR", "cgroup v2 directory for the socket hooks (connect-time balancing) [default: none, no hooks]"),
        ["socket-lb-mode"] = new("disabled|tcp|enabled", "Connect-time balancing: disabled, tcp (TCP only), enabled (TCP and UDP) [default: tcp]",
            "disabled", "tcp", "enabled"),
        ["external-service-mode"] = new("snat|tunnel|dsr",
            "External traffic to a backend on another node: snat (the backend sees this node), tunnel (Geneve there and back, keeps the client IP), " +
            $"dsr (Geneve there, the backend's node answers directly); a Service may choose with the annotation {ExternalTrafficOptions.ModeAnnotation} [default: tunnel]",
            "snat", "tunnel", "dsr"),
        ["tunnel-port"] = new("PORT", $"Geneve UDP port of the tunnel and dsr modes; open it between the nodes [default: {Dataplane.Abi.MultiNodeConfig.DefaultTunnelPort}]"),
        ["tunnel-vni"] = new("VNI", $"Geneve VNI (24 bits; decimal or 0x hex), the same on every node [default: 0x{Dataplane.Abi.MultiNodeConfig.DefaultTunnelVni:x}]"),
        ["tunnel-mtu"] = new("BYTES",
            $"Largest inner packet the tunnel carries ({ExternalTrafficOptions.MinTunnelMtu}-{ExternalTrafficOptions.MaxTunnelMtu}); TCP MSS is clamped to it - 40 " +
            $"[default: 0: the smallest MTU of the host interfaces - {Dataplane.Abi.MultiNodeConfig.EncapsulationOverhead}]"),
        ["snat-port-range"] = new("FIRST-LAST", $"Source ports of snat mode on this node's address; outside the NodePort range [default: {ExternalTrafficOptions.DefaultSnatPorts}]"),
        ["service-cidrs"] = new("CIDRS", "The cluster's Service CIDRs: unclaimed addresses in them are rejected [default: 10.96.0.0/12]"),
        ["min-sync-interval"] = new("DURATION", "Minimum time between the starts of two syncs (kube-proxy minSyncPeriod); changes within it are coalesced; the first sync never waits [default: 1ms]"),
        ["sync-period"] = new("DURATION", "Full resync period, repairs drift [default: 30s]"),
        ["frontend-map-size"] = new("N", $"Entries of the NAT frontend map [default: {Sizes.Frontends}]"),
        ["backend-map-size"] = new("N", $"Entries of the NAT backend map [default: {Sizes.Backends}]"),
        ["affinity-map-size"] = new("N", $"Entries of the session affinity map (LRU) [default: {Sizes.Affinity}]"),
        ["conntrack-map-size"] = new("N", $"Entries of the conntrack map (LRU) [default: {Sizes.Conntrack}]"),
        ["socket-reverse-map-size"] = new("N", $"Sockets translated at connect/sendmsg remembered for their replies (LRU) [default: {Sizes.SocketReverse}]"),
        ["direct-table-size"] = new("N|auto", "Slots of the ClusterIP fast path (pr_nat_direct4, 64 bytes each): a power of two, 0 = off; " +
            $"auto = one per address of the first Service CIDR, at most {DirectTableSize.AutoCap} [default: auto]"),
        ["conntrack-tcp-timeout-syn"] = new("DURATION", "Idle timeout of a TCP flow in its handshake [default: 60s]"),
        ["conntrack-tcp-timeout-established"] = new("DURATION", "Idle timeout of an established TCP flow [default: 24h]"),
        ["conntrack-tcp-timeout-close"] = new("DURATION", "Idle timeout of a closed TCP flow (FIN both ways, or RST); a SNATed flow closed by FINs keeps at least 70s, its backend's TIME_WAIT [default: 10s]"),
        ["conntrack-udp-timeout"] = new("DURATION", "Idle timeout of a UDP flow [default: 60s]"),
        ["conntrack-generic-timeout"] = new("DURATION", "Idle timeout of other protocols' flows [default: 600s]"),
        ["conntrack-sweep-interval"] = new("DURATION", "Delete expired conntrack and affinity entries this often; 0s: never [default: 10s]"),
        ["network-policy"] = new("BOOL",
            "Enforce Kubernetes NetworkPolicy at the pods' veths (watches Pods, Namespaces and NetworkPolicies); false: none are read, the policy maps stay empty [default: true]",
            "true", "false"),
        ["cleanup"] = new("BOOL", "Remove everything ours (programs, hooks, pins) and exit (kube-proxy --cleanup)", "true", "false"),
        ["logging-format"] = new("text|json", "Log format, as the Kubernetes components: text or json (one object per line) [default: text]", "text", "json"),
        ["otlp-endpoint"] = new("URL", "Send traces and metrics over OTLP to this collector [default: OTEL_EXPORTER_OTLP_ENDPOINT, else none]"),
    };

    /// <summary>The entry of <paramref name="name"/>; an option nobody described yet still shows, saying so.</summary>
    public static Entry Of(string name) =>
        Entries.TryGetValue(name, out var entry) ? entry : new Entry("VALUE", "(no description yet: add one to Options/ProxyOptionHelp.cs)");
}
