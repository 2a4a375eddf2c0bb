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
    public static readonly IPEndPoint HealthzEndpoint = new(IPAddress.Loopback, 10256);
    public static readonly IPEndPoint MetricsEndpoint = new(IPAddress.Loopback, 10249);

    private readonly List<NamedBackendServer> _servers = [];
    private readonly List<DaemonProcess> _daemons = [];
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
    public DaemonProcess? Daemon => _daemons.LastOrDefault();

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

    /// <summary>The work directory of this node (removed with it): kubeconfigs and other files a test needs.</summary>
    public string WorkDirectory => _workDirectory!;

    /// <summary>Starts a daemon reading the manifest directory, with <paramref name="extraArguments"/> added.</summary>
    public DaemonProcess StartDaemon(params string[] extraArguments) => StartDaemon(null, extraArguments);

    /// <param name="sourceArguments">How the daemon finds its Services: the manifest directory when null (e.g. <c>--kubeconfig FILE</c>).</param>
    /// <param name="extraArguments">Added after the common arguments (e.g. the socket-LB options).</param>
    public DaemonProcess StartDaemon(IReadOnlyList<string>? sourceArguments, params string[] extraArguments)
    {
        string[] arguments =
        [
            "run",
            .. sourceArguments ?? ["--manifest-dir", Manifests.Path],
            "--bpffs-root", PinRoot,
            "--workload-interfaces", WorkloadInterfacePattern,
            "--healthz-bind-address", HealthzEndpoint.ToString(),
            "--metrics-bind-address", MetricsEndpoint.ToString(),
            "--min-sync-interval", "100ms",
            "--hostname-override", "e2e-node",
            .. extraArguments,
        ];
        var daemon = DaemonProcess.Start(Binary, NodeNamespace, arguments, $"daemon #{_daemons.Count + 1}");
        _daemons.Add(daemon);
        return daemon;
    }

    /// <summary>
    /// Waits until <c>GET /readyz</c> in the node namespace answers 200 and, when <paramref name="expectFrontend"/>,
    /// the pinned frontend map holds the Service. Fails the test early if the daemon exits meanwhile.
    /// </summary>
    public async Task<TimeSpan> WaitUntilReadyAsync(DaemonProcess daemon, bool expectFrontend = true, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        var (ready, elapsed) = await Poll.UntilAsync(async () =>
        {
            if (daemon.HasExited)
                Assert.Fail($"{daemon.Label} exited with code {daemon.ExitCode} before it was ready:\n{daemon.Output}");
            var response = await NetnsHttp.TryGetAsync(NodeNamespace, HealthzEndpoint, "/readyz");
            if (response?.Status != 200)
                return null;
            return !expectFrontend || PinnedNatMaps.Frontend(PinRoot, Service) is not null ? response : null;
        }, limit);
        if (ready is null)
            Assert.Fail($"{daemon.Label} not ready within {limit.TotalSeconds:0} s (GET /readyz = 200{(expectFrontend ? " and the frontend pinned" : "")})");
        return elapsed;
    }

    /// <summary>Runs a service-proxy subcommand inside the node namespace; returns its stdout, throws with its stderr on failure.</summary>
    public string RunCli(params string[] arguments) => IpCommand.InNamespace(NodeNamespace, Binary, arguments);

    /// <summary>The daemons' logs and the current dump: what a failing test prints.</summary>
    public string Diagnostics()
    {
        var text = new StringBuilder();
        text.AppendLine($"topology {_topology?.Prefix}, pin root {PinRoot}, manifests {Manifests?.Path}");
        foreach (var daemon in _daemons)
        {
            var state = daemon.HasExited ? $"exited with {daemon.ExitCode}" : "running";
            text.AppendLine($"----- {daemon.Label} ({state}): {daemon.CommandLine}");
            text.AppendLine(daemon.Output);
        }
        if (_topology is not null && Directory.Exists(PinRoot))
        {
            text.AppendLine("----- service-proxy dump");
            try
            {
                text.AppendLine(RunCli("dump", "--bpffs-root", PinRoot));
            }
            catch (Exception e)
            {
                text.AppendLine($"(dump failed: {e.Message})");
            }
        }
        foreach (var server in _servers)
            text.AppendLine($"{server.Name}: {server.Accepted} connections accepted");
        return text.ToString();
    }

    public void Dispose()
    {
        var failures = new List<Exception>();
        void Attempt(Action step)
        {
            try
            {
                step();
            }
            catch (Exception e)
            {
                failures.Add(e);
            }
        }

        foreach (var daemon in _daemons)
            Attempt(daemon.Dispose);
        foreach (var server in _servers)
            Attempt(server.Dispose);
        _servers.Clear();
        // Deleting the namespaces removes the veths and with them the tc filters, which frees the programs.
        if (_topology is not null)
            Attempt(_topology.Dispose);
        // Unmounting drops the pins, which frees the maps once no program holds them.
        if (_bpffs is not null)
            Attempt(_bpffs.Dispose);
        // The socket hooks' links went with the pins; the cgroup can go once its mount is gone.
        if (_cgroupMount is not null)
            Attempt(_cgroupMount.Dispose);
        if (_cgroup is not null)
            Attempt(_cgroup.Dispose);
        _cgroupMount = null;
        _cgroup = null;
        if (_workDirectory is not null)
            Attempt(() => Directory.Delete(_workDirectory, recursive: true));
        _topology = null;
        _bpffs = null;
        _workDirectory = null;
        if (failures.Count > 0)
            throw new AggregateException("end-to-end cleanup failed", failures);
    }

    private void StartServer(PodInterface backend)
    {
        var index = _servers.Count;
        _servers.Add(NamedBackendServer.Start(backend.Namespace, new IPEndPoint(backend.Address, Service.TargetPort), BackendName(index)));
    }
}
