using System.Globalization;
using System.Net;
using System.Text;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Support;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tests.Support;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.Bench.Suites.EndToEnd;

/// <summary>
/// The multinode-e2e suite's cluster: the e2e harness's <see cref="ClusterTopology"/> (underlay bridge, nodes a, b, c
/// with one pod each behind a veth, CNI routes between the pod CIDRs, the external client on the bridge routing every
/// pod CIDR via its node), one manifest directory holding the three Node objects and one NodePort Service per external
/// service mode (<see cref="ModeService"/>: the annotation <c>proxy-replacement.io/external-service-mode</c> picks it),
/// each with the one endpoint pod b0 on node b, and the real daemon (<see cref="NodeDaemon.Launch"/>) on nodes a and b.
/// Node c runs no daemon: its pod c0 is the direct path's target, reached from the client through node c exactly as
/// b0 through node b, with no program on the way. Pods b0 and c0 run <c>bench_httpd</c> on <see cref="HttpPort"/>
/// (2-byte answers) and on <see cref="LargePort"/> (<see cref="LargeBodyBytes"/>-byte answers) and <c>iperf3 -s</c> on
/// <see cref="IperfPort"/>; pod b0 runs the same again for each mode on that mode's own ports
/// (<see cref="ModeService.PortOffset"/>), so that no two Services' flows meet on one backend address and port (a client
/// port reused towards another NodePort would otherwise hit the other flow's TIME_WAIT there). All servers are pinned to
/// <see cref="EndToEndNode.ServerCpu"/>. Built with the harness's wire-sized packets;
/// <see cref="SetSegmentationOffload"/> turns TSO/GSO on and off again. Dispose removes all of it (also when
/// <see cref="Create"/> fails halfway).
/// </summary>
public sealed class BenchCluster : IDisposable
{
    public const int HttpPort = 8080;
    public const int LargePort = 8081;
    public const int IperfPort = 5201;
    public const int LargeBodyBytes = 64 * 1024;
    public const string AnnotationKey = "proxy-replacement.io/external-service-mode";

    /// <summary>The three Services, one per mode, all balancing to pod b0 only.</summary>
    public static readonly IReadOnlyList<ModeService> Services =
    [
        new("snat", "mn-snat", IPAddress.Parse("10.96.0.11"), 30080, FrontendFlags.ModeSnat, PortOffset: 10),
        new("tunnel", "mn-tunnel", IPAddress.Parse("10.96.0.12"), 30090, FrontendFlags.ModeTunnel, PortOffset: 20),
        new("dsr", "mn-dsr", IPAddress.Parse("10.96.0.13"), 30100, FrontendFlags.ModeDsr, PortOffset: 30),
    ];

    private readonly List<BackgroundProcess> _servers = [];
    private readonly Dictionary<string, NodeDaemon> _daemons = [];
    private ClusterTopology? _topology;
    private DirectoryInfo? _work;

    private BenchCluster()
    {
    }

    /// <summary>Whether TSO/GSO are on now (<see cref="SetSegmentationOffload"/>); off as created (the harness's default).</summary>
    public bool SegmentationOffload { get; private set; }
    public ClusterTopology Topology => _topology!;
    public ClusterNode IngressNode => Topology.Node("node-a");
    public ClusterNode BackendNode => Topology.Node("node-b");
    public ClusterNode BareNode => Topology.Node("node-c");

    /// <summary>The pod behind every Service (b0, on node b).</summary>
    public PodInterface Backend => BackendNode.Pods[0];

    /// <summary>
    /// A second address of pod b0 (the last of node b's pod CIDR but one: 10.244.2.200) that the client routes via node a
    /// and whose replies node b routes via node a too (a source rule): the two-hop reference, which crosses nodes a and b
    /// both ways as the snat and tunnel paths do, with no Service on the way.
    /// </summary>
    public IPAddress TwoHopAddress
    {
        get
        {
            var bytes = Backend.Address.GetAddressBytes();
            bytes[3] = 200;
            return new IPAddress(bytes);
        }
    }

    /// <summary>The direct path's pod (c0, on node c, which runs no daemon).</summary>
    public PodInterface DirectPod => BareNode.Pods[0];

    public string ExternalNamespace => Topology.External.Namespace;
    public NodeDaemon IngressDaemon => _daemons[IngressNode.Name];
    public NodeDaemon BackendDaemon => _daemons[BackendNode.Name];

    /// <summary>The daemon's command line on <paramref name="node"/> (without <c>--bpffs-root</c>), the manifest directory and the name prefix as placeholders.</summary>
    public string DaemonArguments(ClusterNode node) =>
        string.Join(' ', Arguments(node)).Replace(ManifestPath, "MANIFESTS", StringComparison.Ordinal).Replace(Topology.Prefix, "prt-xxxx", StringComparison.Ordinal);

    /// <summary>Builds the cluster with the harness's wire-sized packets (TSO/GSO off) and starts everything.</summary>
    public static BenchCluster Create(BenchContext context)
    {
        var cluster = new BenchCluster();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            cluster._topology = ClusterTopology.Create(nodeCount: 3, podsPerNode: 1);
            var built = clock.Elapsed;
            cluster.AddTwoHopRoute();
            // one client making a new connection per request: reuse TIME_WAIT ports from a wide range (as the other e2e suites)
            IpCommand.Sysctl(cluster.ExternalNamespace, "net.ipv4.ip_local_port_range", "1024 65535");
            IpCommand.Sysctl(cluster.ExternalNamespace, "net.ipv4.tcp_tw_reuse", "1");
            cluster._work = Directory.CreateTempSubdirectory($"{cluster.Topology.Prefix}-bench-");
            var manifests = new ManifestDirectory(cluster._work.FullName);
            manifests.Write("nodes.yaml", string.Join("---\n",
                cluster.Topology.Nodes.Select(node => ManifestDirectory.NodeYaml(node.Name, node.Address, node.PodCidr))));
            manifests.Write("services.yaml", string.Join("---\n", Services.Select(service => service.Yaml(cluster.Backend, cluster.BackendNode.Name))));
            cluster.ManifestPath = manifests.Path;

            cluster.StartServers(cluster.DirectPod, 0, context);
            foreach (var offset in Services.Select(service => service.PortOffset).Prepend(0))
                cluster.StartServers(cluster.Backend, offset, context);
            var served = clock.Elapsed;
            var synced = cluster.StartDaemons(context);
            context.Progress($"multinode-e2e: cluster {cluster.Topology.Prefix} built in {built.TotalSeconds:F1} s, its servers started in " +
                $"{(served - built).TotalSeconds:F1} s, its daemons synced {synced.TotalSeconds:F1} s later and held every Service, address and " +
                $"route {(clock.Elapsed - served - synced).TotalSeconds:F1} s after that");
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    private string ManifestPath { get; set; } = "";

    /// <summary>
    /// Turns TSO and GSO on (the veth default) or off (the harness's wire-sized packets) on every interface the harness
    /// sets (<see cref="ClusterTopology"/>: every pod's, node's and the client's <c>eth0</c>), then checks that each says so.
    /// Connections opened afterwards get the new setting.
    /// </summary>
    public void SetSegmentationOffload(bool on)
    {
        var state = on ? "on" : "off";
        foreach (var netns in OffloadNamespaces)
            IpCommand.InNamespace(netns, "ethtool", "-K", ClusterTopology.NodeInterface, "tso", state, "gso", state);
        foreach (var netns in OffloadNamespaces)
        {
            var features = Features(netns);
            if (features.Tso != state || features.Gso != state)
                throw new InvalidOperationException($"{netns} eth0: tso {features.Tso}, gso {features.Gso} after setting both {state}");
        }
        SegmentationOffload = on;
    }

    /// <summary>The offload settings of the interfaces <see cref="SetSegmentationOffload"/> sets, grouped (e.g. "all 7: tso off, gso off, gro off").</summary>
    public string DescribeOffload()
    {
        var namespaces = OffloadNamespaces.ToList();
        var states = namespaces.GroupBy(netns => Features(netns)).ToList();
        return string.Join("; ", states.Select(state =>
            $"{(states.Count == 1 ? $"all {namespaces.Count}" : string.Join(", ", state.Select(netns => netns[(Topology.Prefix.Length + 1)..])))}: " +
            $"tso {state.Key.Tso}, gso {state.Key.Gso}, gro {state.Key.Gro}"));
    }

    /// <summary>The namespaces whose <c>eth0</c> the harness limits to wire size: the pods, the nodes, the external client.</summary>
    private IEnumerable<string> OffloadNamespaces =>
        Topology.Nodes.SelectMany(node => node.Pods.Select(pod => pod.Namespace)).Concat(Topology.Nodes.Select(node => node.Namespace)).Append(ExternalNamespace);

    private static (string Tso, string Gso, string Gro) Features(string netns)
    {
        var features = IpCommand.InNamespace(netns, "ethtool", "-k", ClusterTopology.NodeInterface).Split('\n');
        string Feature(string name) =>
            features.FirstOrDefault(line => line.TrimStart().StartsWith(name + ":", StringComparison.Ordinal))?.Split(':')[1].Trim() ?? "?";
        return (Feature("tcp-segmentation-offload"), Feature("generic-segmentation-offload"), Feature("generic-receive-offload"));
    }

    /// <summary>
    /// <see cref="TwoHopAddress"/> on pod b0, node b's host route to it, node b's rule sending what comes from it via node a
    /// (table 100), and the client's route to it via node a (node a's CNI route to node b's pod CIDR does the rest).
    /// </summary>
    private void AddTwoHopRoute()
    {
        var address = TwoHopAddress.ToString();
        IpCommand.Ip("-n", Backend.Namespace, "address", "add", $"{address}/32", "dev", "eth0");
        IpCommand.Ip("-n", BackendNode.Namespace, "route", "add", $"{address}/32", "dev", Backend.HostInterface, "scope", "link");
        IpCommand.Ip("-n", BackendNode.Namespace, "route", "add", "default", "via", IngressNode.Address.ToString(), "dev",
            ClusterTopology.NodeInterface, "table", "100");
        IpCommand.Ip("-n", BackendNode.Namespace, "rule", "add", "from", address, "lookup", "100", "priority", "100");
        Topology.External.RouteVia(address, IngressNode);
    }

    /// <summary>The three servers in <paramref name="pod"/>, on the base ports plus <paramref name="offset"/>.</summary>
    private void StartServers(PodInterface pod, int offset, BenchContext context)
    {
        static string Text(int number) => number.ToString(CultureInfo.InvariantCulture);
        (string Command, string[] Arguments, string Ready)[] servers =
        [
            (EndToEndNode.HttpServerBinary, ["0.0.0.0", Text(HttpPort + offset)], "listening"),
            (EndToEndNode.HttpServerBinary, ["0.0.0.0", Text(LargePort + offset), Text(LargeBodyBytes)], "listening"),
            ("iperf3", ["-s", "--forceflush", "-p", Text(IperfPort + offset)], "Server listening"),
        ];
        foreach (var (command, arguments, ready) in servers)
        {
            var server = BackgroundProcess.Start("ip", ExternalCommand.InNamespace(pod.Namespace, EndToEndNode.ServerCpu, command, arguments),
                line => line.Contains(ready, StringComparison.Ordinal));
            _servers.Add(server);
            server.WaitUntilReady(TimeSpan.FromSeconds(20), context.Cancellation);
        }
    }

    private string[] Arguments(ClusterNode node) =>
    [
        "run", "--manifest-dir", ManifestPath,
        "--workload-interfaces", Topology.WorkloadInterfacePattern, "--host-interfaces", ClusterTopology.NodeInterface,
        "--hostname-override", node.Name,
        "--healthz-bind-address", "127.0.0.1:10256", "--metrics-bind-address", "127.0.0.1:10249",
    ];

    /// <summary>
    /// Starts the daemons of nodes a and b at once, then waits for each to hold the three Services, its node address and the routes;
    /// returns how long the first sync of both took.
    /// </summary>
    private TimeSpan StartDaemons(BenchContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var nodes = new[] { IngressNode, BackendNode };
        var starts = nodes.Select(node => Task.Run(() => NodeDaemon.Launch(node.Namespace, Arguments(node), work: null, context))).ToArray();
        try
        {
            Task.WaitAll(starts);
        }
        catch (AggregateException)
        {
            // keep the ones that started so that Dispose stops them; rethrow the first failure
        }
        for (var i = 0; i < nodes.Length; i++)
            if (starts[i].IsCompletedSuccessfully)
                _daemons[nodes[i].Name] = starts[i].Result;
        var failed = starts.FirstOrDefault(start => !start.IsCompletedSuccessfully);
        if (failed is not null)
            throw failed.Exception?.InnerException ?? new OperationCanceledException("a daemon start was cancelled");
        var synced = clock.Elapsed;

        foreach (var node in nodes)
        {
            var other = nodes.Single(n => n != node);
            _daemons[node.Name].WaitUntilProgrammed(maps => Missing(maps, node, other), context.Cancellation);
        }
        return synced;
    }

    /// <summary>What <paramref name="node"/>'s maps still lack: every Service's NodePorts in its mode, pr_config's node address, the other node's pod CIDR and address.</summary>
    private static string? Missing(Dataplane.PinnedCoreMaps maps, ClusterNode node, ClusterNode other)
    {
        foreach (var service in Services)
            foreach (var port in service.NodePorts)
            {
                var key = new NatFrontendKey4(node.Address, (ushort)port, L4Protocol.Tcp);
                if (!maps.Frontends.TryLookup(key, out var value) || value.BackendCount != 1 || value.Kind != FrontendKind.NodePort
                    || !value.Flags.HasFlag(service.Flag))
                    return $"the NodePort frontend {key} with 1 backend in mode {service.Mode}";
            }
        if (maps.ReadConfig() is not { } config || config.NodeAddressNbo != Ipv4.ToNbo(node.Address))
            return $"pr_config's node address {node.Address}";
        if (!maps.Routes.TryLookup(new RouteKey4(IPNetwork.Parse(other.PodCidr)), out var pods) || !pods.Flags.HasFlag(RouteFlags.Remote))
            return $"the route of {other.Name}'s pod CIDR {other.PodCidr}";
        if (!maps.Routes.TryLookup(new RouteKey4(new IPNetwork(other.Address, 32)), out var peer) || !peer.Flags.HasFlag(RouteFlags.Node))
            return $"{other.Name}'s address {other.Address} as a node";
        return null;
    }

    /// <summary>Each daemon's log and <c>service-proxy dump</c>: what a failing run prints.</summary>
    public string Diagnostics() => ClusterParts.Diagnostics(_daemons, Topology);

    public void Dispose() => ClusterParts.Dispose("multi-node cluster", _daemons, _servers, ref _topology, ref _work);
}

/// <summary>
/// A NodePort Service of the <see cref="BenchCluster"/> in mode <paramref name="Mode"/> (its annotation): ports
/// <c>http</c> 80 → 8080 + <paramref name="PortOffset"/> (nodePort <paramref name="HttpNodePort"/>), <c>large</c> 81 → 8081 +
/// offset (+1) and <c>iperf</c> 5201 → 5201 + offset (+2), externalTrafficPolicy Cluster, its one endpoint the given pod.
/// </summary>
public sealed record ModeService(string Mode, string Name, IPAddress ClusterIp, int HttpNodePort, FrontendFlags Flag, int PortOffset)
{
    public int LargeNodePort => HttpNodePort + 1;
    public int IperfNodePort => HttpNodePort + 2;
    public IReadOnlyList<int> NodePorts => [HttpNodePort, LargeNodePort, IperfNodePort];

    public string Yaml(PodInterface endpoint, string nodeName) => $"""
        apiVersion: v1
        kind: Service
        metadata:
          name: {Name}
          namespace: bench
          annotations: {"{"}{BenchCluster.AnnotationKey}: {Mode}{"}"}
        spec:
          type: NodePort
          clusterIP: {ClusterIp}
          clusterIPs: [{ClusterIp}]
          externalTrafficPolicy: Cluster
          ports:
          - {"{"}name: http, protocol: TCP, port: 80, targetPort: {BenchCluster.HttpPort + PortOffset}, nodePort: {HttpNodePort}{"}"}
          - {"{"}name: large, protocol: TCP, port: 81, targetPort: {BenchCluster.LargePort + PortOffset}, nodePort: {LargeNodePort}{"}"}
          - {"{"}name: iperf, protocol: TCP, port: 5201, targetPort: {BenchCluster.IperfPort + PortOffset}, nodePort: {IperfNodePort}{"}"}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata:
          name: {Name}-bench01
          namespace: bench
          labels: {"{"}kubernetes.io/service-name: {Name}{"}"}
        addressType: IPv4
        ports:
        - {"{"}name: http, protocol: TCP, port: {BenchCluster.HttpPort + PortOffset}{"}"}
        - {"{"}name: large, protocol: TCP, port: {BenchCluster.LargePort + PortOffset}{"}"}
        - {"{"}name: iperf, protocol: TCP, port: {BenchCluster.IperfPort + PortOffset}{"}"}
        endpoints:
        - {"{"}addresses: [{endpoint.Address}], conditions: {"{"}ready: true{"}"}, nodeName: {nodeName}{"}"}

        """;
}
