using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Support;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.Bench.Suites.EndToEnd;

/// <summary>
/// The policy-e2e suite's cluster: the e2e harness's <see cref="ClusterTopology"/> with two nodes and one pod each, the
/// client pod a0 on node a and the server pod b0 on node b (<c>bench_httpd</c> on <see cref="ServedPort"/> and on
/// <see cref="OtherPort"/>, pinned to the server CPU), one manifest directory (the Nodes, namespace <c>bench</c> with
/// both Pods, the measured policy allowing the client, whatever else the suite writes) and the real daemon on both
/// nodes, with policy on (the default) or off (<c>--network-policy=false</c>), as created. Two clusters (one per mode)
/// can run side by side: every name and address lives in the cluster's own namespaces. Dispose removes all of it.
/// </summary>
public sealed class PolicyBenchCluster : IDisposable
{
    public const int ServedPort = 8080;
    public const int OtherPort = 8090;
    public const string PolicyFile = "policy.yaml";
    public const string FillerFile = "filler.yaml";

    private readonly List<BackgroundProcess> _servers = [];
    private readonly Dictionary<string, NodeDaemon> _daemons = [];
    private ClusterTopology? _topology;
    private DirectoryInfo? _work;
    private ManifestDirectory? _manifests;

    private PolicyBenchCluster()
    {
    }

    public ClusterTopology Topology => _topology!;
    public ClusterNode ClientNode => Topology.Node("node-a");
    public ClusterNode ServerNode => Topology.Node("node-b");
    public PodInterface Client => ClientNode.Pods[0];
    public PodInterface Server => ServerNode.Pods[0];
    public IPEndPoint Served => new(Server.Address, ServedPort);
    public IPEndPoint Other => new(Server.Address, OtherPort);

    /// <summary>Whether the daemons running now enforce policy.</summary>
    public bool PolicyOn { get; private set; }

    /// <summary>
    /// Fails clearly when <c>bin/service-proxy</c> has no <c>--network-policy</c> option: the policy module (#17) is not in
    /// that build, and nothing here would measure it.
    /// </summary>
    public static void RequirePolicyModule()
    {
        var help = ExternalCommand.Run(MemorySuite.DaemonBinary, ["run", "--help"], TimeSpan.FromSeconds(30), CancellationToken.None);
        if (!(help.Stdout + help.Stderr).Contains("--network-policy", StringComparison.Ordinal))
            throw new InvalidOperationException(
                $"{MemorySuite.DaemonBinary} has no --network-policy option: the NetworkPolicy module (issue #17) is not in this build " +
                "(run `make build` on a tree that has it); the policy-e2e suite measures it and cannot run without it");
    }

    /// <summary>Builds the cluster, writes the measured policy (allowing the flow) and starts the daemons with policy on or off.</summary>
    public static PolicyBenchCluster Create(bool policy, BenchContext context)
    {
        var cluster = new PolicyBenchCluster();
        try
        {
            cluster._topology = ClusterTopology.Create(nodeCount: 2, podsPerNode: 1);
            // short connections from one client: reuse TIME_WAIT ports (the kernel's range stays the default, 32768-60999,
            // above the ports the enforcement probes bind explicitly)
            IpCommand.Sysctl(cluster.Client.Namespace, "net.ipv4.tcp_tw_reuse", "1");
            cluster._work = Directory.CreateTempSubdirectory($"{cluster.Topology.Prefix}-bench-");
            cluster._manifests = new ManifestDirectory(cluster._work.FullName);
            cluster._manifests.Write("nodes.yaml", string.Join("---\n",
                cluster.Topology.Nodes.Select(node => ManifestDirectory.NodeYaml(node.Name, node.Address, node.PodCidr))));
            cluster._manifests.Write("bench.yaml", string.Join("---\n",
                PolicyBenchManifests.NamespaceYaml(PolicyBenchManifests.Namespace, "bench"),
                PolicyBenchManifests.PodYaml(PolicyBenchManifests.Namespace, "client", new Dictionary<string, string> { ["role"] = "client" },
                    cluster.ClientNode.Name, cluster.Client.Address, [ServedPort]),
                PolicyBenchManifests.PodYaml(PolicyBenchManifests.Namespace, "server", new Dictionary<string, string> { ["role"] = "server" },
                    cluster.ServerNode.Name, cluster.Server.Address, [ServedPort, OtherPort])));
            foreach (var port in new[] { ServedPort, OtherPort })
            {
                var server = BackgroundProcess.Start("ip", ExternalCommand.InNamespace(cluster.Server.Namespace, EndToEndNode.ServerCpu,
                    EndToEndNode.HttpServerBinary, "0.0.0.0", port.ToString(CultureInfo.InvariantCulture)), line => line.Contains("listening", StringComparison.Ordinal));
                cluster._servers.Add(server);
                server.WaitUntilReady(TimeSpan.FromSeconds(20), context.Cancellation);
            }
            cluster.Write(PolicyFile, PolicyBenchManifests.MeasuredPolicy(ServedPort, OtherPort, "client"));
            cluster.StartDaemons(policy, context);
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    /// <summary>Replaces (atomically) or, with null, removes a manifest file.</summary>
    public void Write(string file, string? yaml)
    {
        if (yaml is null)
            _manifests!.Delete(file);
        else
            _manifests!.Write(file, yaml);
    }

    /// <summary>The daemon's command line on <paramref name="node"/> (no <c>--bpffs-root</c>), with or without policy.</summary>
    public string[] Arguments(ClusterNode node, bool policy) =>
    [
        "run", "--manifest-dir", _manifests!.Path,
        "--workload-interfaces", Topology.WorkloadInterfacePattern, "--host-interfaces", ClusterTopology.NodeInterface,
        "--hostname-override", node.Name,
        "--healthz-bind-address", "127.0.0.1:10256", "--metrics-bind-address", "127.0.0.1:10249",
        .. policy ? Array.Empty<string>() : ["--network-policy=false"],
    ];

    /// <summary>The command line for the report, placeholders for the temp paths.</summary>
    public string DescribeArguments(ClusterNode node, bool policy) =>
        string.Join(' ', Arguments(node, policy)).Replace(_manifests!.Path, "MANIFESTS", StringComparison.Ordinal)
            .Replace(Topology.Prefix, "prt-xxxx", StringComparison.Ordinal);

    /// <summary>
    /// Stops the running daemons (if any) and starts new ones on both nodes with policy on or off; waits until both hold the
    /// route to the other's pods and, with policy on, the measured policy (<see cref="MeasuredPolicyMissing"/>).
    /// </summary>
    public void StartDaemons(bool policy, BenchContext context, TimeSpan? timeout = null)
    {
        StopDaemons();
        var nodes = new[] { ClientNode, ServerNode };
        var starts = nodes.Select(node => Task.Run(() => NodeDaemon.Launch(node.Namespace, Arguments(node, policy), work: null, context))).ToArray();
        try
        {
            Task.WaitAll(starts);
        }
        catch (AggregateException)
        {
            // keep the ones that started so that StopDaemons stops them; rethrow the first failure below
        }
        for (var i = 0; i < nodes.Length; i++)
            if (starts[i].IsCompletedSuccessfully)
                _daemons[nodes[i].Name] = starts[i].Result;
        if (starts.FirstOrDefault(start => !start.IsCompletedSuccessfully) is { } failed)
            throw failed.Exception?.InnerException ?? new OperationCanceledException("a daemon start was cancelled");
        PolicyOn = policy;
        foreach (var node in nodes)
        {
            var other = nodes.Single(n => n != node);
            _daemons[node.Name].WaitUntilProgrammed(maps =>
                !maps.Routes.TryLookup(new RouteKey4(IPNetwork.Parse(other.PodCidr)), out _) ? $"the route of {other.Name}'s pod CIDR"
                : policy ? MeasuredPolicyMissing(maps, node)
                : null, context.Cancellation, timeout);
        }
    }

    /// <summary>What a node's maps lack for the measured policy: the client's egress isolation on node a, the server's ingress isolation on node b.</summary>
    public string? MeasuredPolicyMissing(PinnedCoreMaps maps, ClusterNode node)
    {
        var (pod, ingress) = node == ClientNode ? (Client, false) : (Server, true);
        if (!maps.PolicyEndpoints.TryLookup(new PolicyEndpointKey4(pod.Address), out var entry) || (ingress ? entry.IngressSet : entry.EgressSet) == 0)
            return $"the {(ingress ? "ingress" : "egress")} rule set of {pod.Address} in pr_pol_ep4";
        return null;
    }

    public void StopDaemons()
    {
        foreach (var daemon in _daemons.Values)
            daemon.Dispose();
        _daemons.Clear();
    }

    /// <summary>
    /// Checks that the daemons running now do what their mode says, before their figures are taken: the served port answers
    /// either way; the other port (admitted by no rule) answers with policy off and is dropped with policy on.
    /// </summary>
    public void CheckEnforcement(CancellationToken cancellation)
    {
        var served = TryConnect(Served, TimeSpan.FromSeconds(2), cancellation);
        var other = TryConnect(Other, TimeSpan.FromMilliseconds(500), cancellation);
        if (served != true)
            throw new InvalidOperationException($"policy {(PolicyOn ? "on" : "off")}: the client does not reach {Served} ({Describe(served)})\n{Diagnostics()}");
        if (PolicyOn ? other != null : other != true)
            throw new InvalidOperationException($"policy {(PolicyOn ? "on" : "off")}: a connection to {Other}, which no rule admits, was {Describe(other)}; " +
                $"expected {(PolicyOn ? "dropped (no answer)" : "answered")}\n{Diagnostics()}");
    }

    /// <summary>True: connected; false: refused or another error; null: no answer in time (dropped).</summary>
    public bool? TryConnect(IPEndPoint target, TimeSpan timeout, CancellationToken cancellation)
    {
        try
        {
            using var socket = NetnsSockets.ConnectTcpAsync(Client.Namespace, target, timeout).GetAwaiter().GetResult();
            return true;
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            return null;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static string Describe(bool? outcome) => outcome switch { true => "answered", false => "refused", null => "not answered" };

    /// <summary>Each daemon's log and <c>service-proxy dump</c>: what a failing run prints.</summary>
    public string Diagnostics() => ClusterParts.Diagnostics(_daemons, Topology);

    public void Dispose() => ClusterParts.Dispose("policy bench cluster", _daemons, _servers, ref _topology, ref _work);
}
