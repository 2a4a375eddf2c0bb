using System.Text;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tests.Support;

namespace ProxyReplacement.E2E.Tests.Support;

/// <summary>
/// A many-node cluster with the real daemons: a <see cref="ClusterTopology"/> (underlay bridge, nodes a, b, c, ... with
/// their pods, an external client), a <see cref="ClusterBackend"/> in every pod, one Kubernetes view shared by every
/// node (one manifest directory holding a Node object per node, <see cref="NodesFile"/>, and whatever Services the test
/// writes), and per node a private bpffs mount and the daemons started in its namespace (<see cref="ProxiedClusterNode"/>).
/// Nothing runs until the test starts the daemons, so the topology can be checked on its own. Dispose removes all of
/// it, whatever state it is in (also when <see cref="Create"/> fails halfway).
/// </summary>
internal sealed class ProxiedCluster : IDisposable
{
    public const string NodesFile = "nodes.yaml";

    private readonly List<ProxiedClusterNode> _nodes = [];
    private readonly List<BpffsMount> _bpffs = [];
    private readonly List<ClusterBackend> _backends = [];
    private ClusterTopology? _topology;
    private string? _workDirectory;

    private ProxiedCluster(string binary) => Binary = binary;

    public string Binary { get; }
    public ClusterTopology Topology => _topology!;
    public ManifestDirectory Manifests { get; private set; } = null!;
    public IReadOnlyList<ProxiedClusterNode> Nodes => _nodes;

    /// <summary>The servers of every pod, node by node.</summary>
    public IReadOnlyList<ClusterBackend> Backends => _backends;

    /// <summary>The client on the underlay that is no node.</summary>
    public UnderlayClient External => Topology.External;

    /// <param name="podsPerNode">Pods (each with its <see cref="ClusterBackend"/>) on every node.</param>
    /// <param name="segmentationOffload">Super-packets on the veths (see <see cref="ClusterTopology.Create"/>); off: wire-sized packets.</param>
    public static ProxiedCluster Create(int nodeCount = 3, int podsPerNode = 2, bool segmentationOffload = false)
    {
        var cluster = new ProxiedCluster(DaemonBinary.Locate());
        try
        {
            cluster._topology = ClusterTopology.Create(nodeCount, podsPerNode, segmentationOffload: segmentationOffload);
            cluster._workDirectory = Directory.CreateTempSubdirectory($"{cluster.Topology.Prefix}-e2e-").FullName;
            cluster.Manifests = new ManifestDirectory(cluster._workDirectory);
            cluster.Manifests.Write(NodesFile, string.Join("---\n",
                cluster.Topology.Nodes.Select(node => ManifestDirectory.NodeYaml(node.Name, node.Address, node.PodCidr))));
            foreach (var node in cluster.Topology.Nodes)
            {
                var bpffs = BpffsMount.Create();
                cluster._bpffs.Add(bpffs);
                cluster._nodes.Add(new ProxiedClusterNode(node, new NodeDaemons(cluster.Binary, node.Namespace,
                    Path.Combine(bpffs.Path, "proxy-replacement"), cluster.Topology.WorkloadInterfacePattern, node.Name, $"{node.Name} "),
                    cluster.Manifests.Path));
                foreach (var pod in node.Pods)
                    cluster._backends.Add(ClusterBackend.Start(node, pod));
            }
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    /// <summary>The node named <c>node-x</c>.</summary>
    public ProxiedClusterNode Node(string name) =>
        _nodes.FirstOrDefault(node => node.Name == name) ?? throw new ArgumentException($"no node {name}", nameof(name));

    /// <summary>The servers of the pod <c>backend-x0</c> (or its role <c>x0</c>).</summary>
    public ClusterBackend Backend(string name) =>
        _backends.FirstOrDefault(backend => backend.Name == name || backend.Name == $"backend-{name}")
        ?? throw new ArgumentException($"no backend {name}", nameof(name));

    /// <summary>A new pod on <paramref name="node"/> (its veth appears in the node namespace now) with its servers running.</summary>
    public ClusterBackend AddPod(ProxiedClusterNode node)
    {
        var backend = ClusterBackend.Start(node.Topology, Topology.AddPod(node.Topology));
        _backends.Add(backend);
        return backend;
    }

    /// <summary>Sets the extra daemon arguments of every node (e.g. <c>--external-service-mode dsr</c>) for the daemons started from now on.</summary>
    public void SetDaemonArguments(params string[] extraArguments)
    {
        foreach (var node in _nodes)
            node.ExtraArguments = extraArguments;
    }

    /// <summary>
    /// Starts a daemon on every node at once, then waits for each to be ready and to hold what <paramref name="programmed"/>
    /// asks of its node (e.g. <see cref="ClusterService.IsProgrammed"/>); returns how long that took.
    /// </summary>
    public async Task<TimeSpan> StartDaemonsAsync(Func<ProxiedClusterNode, bool>? programmed = null, TimeSpan? timeout = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        foreach (var node in _nodes)
            node.StartDaemon();
        foreach (var node in _nodes)
            await node.WaitUntilReadyAsync(programmed is null ? null : () => programmed(node), timeout);
        return clock.Elapsed;
    }

    /// <summary>Every node's daemon logs and dump, then the backends' connection counts: what a failing test prints.</summary>
    public string Diagnostics()
    {
        var text = new StringBuilder();
        text.AppendLine($"cluster {_topology?.Prefix}, manifests {Manifests?.Path}");
        foreach (var node in _nodes)
        {
            text.AppendLine($"===== {node.Topology} pin root {node.PinRoot}");
            text.Append(node.Daemons.Describe());
        }
        foreach (var backend in _backends)
            text.AppendLine(backend.ToString());
        return text.ToString();
    }

    public void Dispose()
    {
        var cleanup = new CleanupSteps();
        foreach (var node in _nodes)
            cleanup.Attempt(node.Daemons);
        foreach (var backend in _backends)
            cleanup.Attempt(backend);
        _backends.Clear();
        // Deleting the namespaces removes the veths and the bridge, and with them the tc filters, which frees the programs.
        cleanup.Attempt(_topology);
        // Unmounting drops the pins, which frees the maps once no program holds them.
        foreach (var bpffs in _bpffs)
            cleanup.Attempt(bpffs);
        _bpffs.Clear();
        _nodes.Clear();
        if (_workDirectory is not null)
            cleanup.Attempt(() => Directory.Delete(_workDirectory, recursive: true));
        _topology = null;
        _workDirectory = null;
        cleanup.ThrowIfAnyFailed("cluster");
    }
}
