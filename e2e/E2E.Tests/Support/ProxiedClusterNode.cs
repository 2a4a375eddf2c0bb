using System.Net;
using System.Text.Json;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Tests.Netns;

namespace ProxyReplacement.E2E.Tests.Support;

/// <summary>
/// One node of a <see cref="ProxiedCluster"/>: its place in the topology and its daemons, each run as
/// <c>ip netns exec NODE service-proxy run --manifest-dir SHARED --hostname-override node-x --host-interfaces eth0
/// --bpffs-root PINS ...</c> plus <see cref="ExtraArguments"/>. The cluster owns and removes everything.
/// </summary>
internal sealed class ProxiedClusterNode
{
    private readonly string _manifestDirectory;

    internal ProxiedClusterNode(ClusterNode topology, NodeDaemons daemons, string manifestDirectory)
    {
        Topology = topology;
        Daemons = daemons;
        _manifestDirectory = manifestDirectory;
    }

    public ClusterNode Topology { get; }
    public NodeDaemons Daemons { get; }

    /// <summary>The Kubernetes name, <c>node-x</c>.</summary>
    public string Name => Topology.Name;
    public string Namespace => Topology.Namespace;

    /// <summary>The underlay address: the Node's InternalIP, where it serves NodePorts.</summary>
    public IPAddress Address => Topology.Address;

    /// <summary>This node's <c>--bpffs-root</c> (on its own bpffs mount).</summary>
    public string PinRoot => Daemons.PinRoot;

    /// <summary>Added to the command line of every daemon started from now on (e.g. <c>--external-service-mode dsr</c>).</summary>
    public IReadOnlyList<string> ExtraArguments { get; set; } = [];

    /// <summary>The daemon started last (null before the first start).</summary>
    public DaemonProcess? Daemon => Daemons.Current;

    public IPEndPoint Endpoint(int port) => new(Address, port);

    public DaemonProcess StartDaemon() =>
        Daemons.Start(["--manifest-dir", _manifestDirectory], ["--host-interfaces", ClusterTopology.NodeInterface, .. ExtraArguments]);

    /// <summary>Waits for the current daemon's <c>/readyz</c> and, when given, <paramref name="programmed"/>.</summary>
    public Task<TimeSpan> WaitUntilReadyAsync(Func<bool>? programmed = null, TimeSpan? timeout = null) =>
        Daemons.WaitUntilReadyAsync(Daemon ?? throw new InvalidOperationException($"{Name}: no daemon started"), programmed, timeout);

    /// <summary>
    /// Stops the current daemon, with SIGTERM or (<paramref name="kill"/>) SIGKILL, starts the next one and waits for it;
    /// returns how long the node ran without a daemon.
    /// </summary>
    public async Task<TimeSpan> RestartDaemonAsync(bool kill, Func<bool>? programmed = null)
    {
        var daemon = Daemon ?? throw new InvalidOperationException($"{Name}: no daemon started");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        if (kill)
            daemon.Kill(TimeSpan.FromSeconds(10));
        else
            daemon.Terminate(TimeSpan.FromSeconds(15));
        StartDaemon();
        await WaitUntilReadyAsync(programmed);
        return clock.Elapsed;
    }

    /// <summary>Runs a service-proxy subcommand inside the node namespace; returns its stdout.</summary>
    public string RunCli(params string[] arguments) => Daemons.RunCli(arguments);

    /// <summary><c>service-proxy dump -o json</c> of this node.</summary>
    public JsonElement DumpJson()
    {
        using var document = JsonDocument.Parse(RunCli("dump", "--bpffs-root", PinRoot, "-o", "json"));
        return document.RootElement.Clone();
    }

    /// <summary>The dataplane counters of this node (read from its pins: quicker than <see cref="DumpJson"/>, which starts the CLI).</summary>
    public IReadOnlyDictionary<CounterReason, ulong> Counters() => PinnedNatMaps.Counters(PinRoot);

    public override string ToString() => Topology.ToString();
}
