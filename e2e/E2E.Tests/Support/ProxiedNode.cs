using System.Net;
using System.Text;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tests.Support;

namespace ProxyReplacement.E2E.Tests.Support;

/// <summary>
/// Everything one end-to-end test runs against: a <see cref="NodeTopology"/> (node, client pod, backend
/// pods each running a <see cref="NamedBackendServer"/> on the target port), a private bpffs mount whose
/// <c>proxy-replacement</c> directory is the daemon's <c>--bpffs-root</c>, a manifest directory, and the
/// daemon processes started in the node namespace. Dispose removes all of it, whatever state it is in.
/// </summary>
internal sealed class ProxiedNode : IDisposable
{
    public static readonly IPEndPoint HealthzEndpoint = NodeDaemons.HealthzEndpoint;
    public static readonly IPEndPoint MetricsEndpoint = NodeDaemons.MetricsEndpoint;

    private readonly List<NamedBackendServer> _servers = [];
    private NodeDaemons? _daemons;
    private NodeTopology? _topology;
    private BpffsMount? _bpffs;
    private TestCgroup? _cgroup;
    private CgroupBindMount? _cgroupMount;
    private string? _workDirectory;

    private ProxiedNode(string binary) => Binary = binary;

    public string Binary { get; }
    public NodeTopology Topology => _topology!;
    public ServiceUnderTest Service { get; } = ServiceUnderTest.Web;
    public ManifestDirectory Manifests { get; private set; } = null!;

    /// <summary>The daemon's <c>--bpffs-root</c>: a directory on the private bpffs mount.</summary>
    public string PinRoot { get; private set; } = "";

    /// <summary>Matches the node-side veth of every pod of this topology, and nothing else in the node namespace.</summary>
    public string WorkloadInterfacePattern => $"{Topology.Prefix}-*";

    public string NodeNamespace => Topology.NodeNamespace;
    public string ClientNamespace => Topology.Client.Namespace;

    /// <summary>The backend servers, index i serving on <c>Topology.Backends[i]</c>.</summary>
    public IReadOnlyList<NamedBackendServer> Servers => _servers;

    /// <summary>The test cgroup for clients served by the socket hooks (null unless <see cref="AddSocketLbCgroup"/> ran).</summary>
    public TestCgroup? ClientCgroup => _cgroup;

    /// <summary>
    /// The daemon's <c>--cgroup-path</c>: the test cgroup bind-mounted outside /sys, because `ip netns exec`
    /// (how the daemon is started) remounts /sys and hides the cgroup mounts below it.
    /// </summary>
    public string? DaemonCgroupPath => _cgroupMount?.Path;

    /// <summary>Creates the clients' test cgroup and its bind mount for the daemon (before the daemon starts).</summary>
    public void AddSocketLbCgroup()
    {
        _cgroup = TestCgroup.Create($"{Topology.Prefix}-sock");
        // Not inside the work directory: its recursive delete must never walk into a cgroup.
        _cgroupMount = CgroupBindMount.Create(_cgroup.Path, Path.Combine(Path.GetTempPath(), $"{Topology.Prefix}-cgroup"));
    }

    /// <summary>The daemon started last (null before the first start).</summary>
    public DaemonProcess? Daemon => _daemons?.Current;

    public static ProxiedNode Create(int backendCount)
    {
        var node = new ProxiedNode(DaemonBinary.Locate());
        try
        {
            node._topology = NodeTopology.Create(backendCount);
            node._bpffs = BpffsMount.Create();
            node.PinRoot = Path.Combine(node._bpffs.Path, "proxy-replacement");
            node._workDirectory = Directory.CreateTempSubdirectory($"{node.Topology.Prefix}-e2e-").FullName;
            node.Manifests = new ManifestDirectory(node._workDirectory);
            node._daemons = new NodeDaemons(node.Binary, node.NodeNamespace, node.PinRoot, node.WorkloadInterfacePattern, "e2e-node");
            foreach (var backend in node.Topology.Backends)
                node.StartServer(backend);
            return node;
        }
        catch
        {
            node.Dispose();
            throw;
        }
    }

    /// <summary>A new backend pod (its veth appears in the node namespace now) with its server running.</summary>
    public PodInterface AddBackend()
    {
        var backend = Topology.AddBackend();
        StartServer(backend);
        return backend;
    }

    public static string BackendName(int index) => $"backend-{index}";

    public IEnumerable<IPAddress> BackendAddresses(params int[] indexes) => indexes.Select(i => Topology.Backends[i].Address);

    /// <summary>The dataplane counters summed over the CPUs, read from the daemon's pins.</summary>
    public IReadOnlyDictionary<ProxyReplacement.Dataplane.Abi.CounterReason, ulong> Counters() => PinnedNatMaps.Counters(PinRoot);

    /// <summary>The work directory of this node (removed with it): kubeconfigs and other files a test needs.</summary>
    public string WorkDirectory => _workDirectory!;

    /// <summary>Starts a daemon reading the manifest directory, with <paramref name="extraArguments"/> added.</summary>
    public DaemonProcess StartDaemon(params string[] extraArguments) => StartDaemon(null, extraArguments);

    /// <param name="sourceArguments">How the daemon finds its Services: the manifest directory when null (e.g. <c>--kubeconfig FILE</c>).</param>
    /// <param name="extraArguments">Added after the common arguments (e.g. the socket-LB options).</param>
    public DaemonProcess StartDaemon(IReadOnlyList<string>? sourceArguments, params string[] extraArguments) =>
        _daemons!.Start(sourceArguments ?? ["--manifest-dir", Manifests.Path], extraArguments);

    /// <summary>
    /// Waits until <c>GET /readyz</c> in the node namespace answers 200 and, when <paramref name="expectFrontend"/>,
    /// the pinned frontend map holds the Service. Fails the test early if the daemon exits meanwhile.
    /// </summary>
    public Task<TimeSpan> WaitUntilReadyAsync(DaemonProcess daemon, bool expectFrontend = true, TimeSpan? timeout = null) =>
        _daemons!.WaitUntilReadyAsync(daemon, expectFrontend ? () => PinnedNatMaps.Frontend(PinRoot, Service) is not null : null, timeout);

    /// <summary>Runs a service-proxy subcommand inside the node namespace; returns its stdout, throws with its stderr on failure.</summary>
    public string RunCli(params string[] arguments) => _daemons!.RunCli(arguments);

    /// <summary>The daemons' logs and the current dump: what a failing test prints.</summary>
    public string Diagnostics()
    {
        var text = new StringBuilder();
        text.AppendLine($"topology {_topology?.Prefix}, pin root {PinRoot}, manifests {Manifests?.Path}");
        if (_daemons is not null)
            text.Append(_daemons.Describe());
        foreach (var server in _servers)
            text.AppendLine($"{server.Name}: {server.Accepted} connections accepted");
        return text.ToString();
    }

    public void Dispose()
    {
        var cleanup = new CleanupSteps();
        cleanup.Attempt(_daemons);
        foreach (var server in _servers)
            cleanup.Attempt(server);
        _servers.Clear();
        // Deleting the namespaces removes the veths and with them the tc filters, which frees the programs.
        cleanup.Attempt(_topology);
        // Unmounting drops the pins, which frees the maps once no program holds them.
        cleanup.Attempt(_bpffs);
        // The socket hooks' links went with the pins; the cgroup can go once its mount is gone.
        cleanup.Attempt(_cgroupMount);
        cleanup.Attempt(_cgroup);
        if (_workDirectory is not null)
            cleanup.Attempt(() => Directory.Delete(_workDirectory, recursive: true));
        _daemons = null;
        _cgroupMount = null;
        _cgroup = null;
        _topology = null;
        _bpffs = null;
        _workDirectory = null;
        cleanup.ThrowIfAnyFailed("end-to-end");
    }

    private void StartServer(PodInterface backend)
    {
        var index = _servers.Count;
        _servers.Add(NamedBackendServer.Start(backend.Namespace, new IPEndPoint(backend.Address, Service.TargetPort), BackendName(index)));
    }
}
