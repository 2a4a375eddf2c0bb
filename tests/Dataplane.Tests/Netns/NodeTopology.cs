using System.Net;

namespace ProxyReplacement.Dataplane.Tests.Netns;

/// <summary>
/// A one-node cluster in network namespaces: a "node" namespace that routes between pods, a client
/// pod (10.201.1.2/24 via 10.201.1.1) and backend pods (10.201.{2+i}.2/24 via 10.201.{2+i}.1), each pod
/// joined to the node by a veth pair. Dispose deletes every namespace it created, also when
/// construction fails halfway.
/// </summary>
public sealed class NodeTopology : IDisposable
{
    private readonly TestNamespaces _namespaces;
    private readonly List<PodInterface> _backends;

    private NodeTopology(TestNamespaces namespaces, string node, PodInterface client, List<PodInterface> backends)
    {
        _namespaces = namespaces;
        NodeNamespace = node;
        Client = client;
        _backends = backends;
    }

    public string NodeNamespace { get; }
    public PodInterface Client { get; }
    public IReadOnlyList<PodInterface> Backends => _backends;

    /// <summary><c>prt-xxxx</c>: every namespace and node-side veth of this topology starts with it.</summary>
    public string Prefix => _namespaces.Prefix;

    /// <summary>Every namespace this topology created.</summary>
    public IReadOnlyList<string> Namespaces => _namespaces.Created;

    /// <param name="backendCount">Backend pods, 1..200.</param>
    /// <param name="prefix">The <c>prt-xxxx</c> name prefix; random when null.</param>
    public static NodeTopology Create(int backendCount = 1, string? prefix = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(backendCount, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(backendCount, 200);
        var namespaces = new TestNamespaces(prefix);
        try
        {
            var node = namespaces.Add("node");
            PodVeth.MakeRouter(node);

            var client = AddPod(namespaces, node, "cli", subnet: 1);
            var backends = Enumerable.Range(0, backendCount)
                .Select(i => AddPod(namespaces, node, $"be{i}", subnet: 2 + i))
                .ToList();
            return new NodeTopology(namespaces, node, client, backends);
        }
        catch
        {
            namespaces.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Adds one more backend pod (the next index and subnet) to a running topology, as a scale-up
    /// would: its node-side veth appears only now.
    /// </summary>
    public PodInterface AddBackend()
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(_backends.Count, 200);
        var backend = AddPod(_namespaces, NodeNamespace, $"be{_backends.Count}", subnet: 2 + _backends.Count);
        _backends.Add(backend);
        return backend;
    }

    /// <summary>
    /// A client outside the node: namespace <c>prefix-ext</c> whose <c>eth0</c> holds <see cref="ExternalNetwork"/> .2
    /// (and any <paramref name="extraAddresses"/>), joined to the node's host data interface <c>prefixup0</c>
    /// (<see cref="ExternalClient.NodeInterface"/>, holding .1, the node address the client talks to). The node
    /// interface's name does not match the pods' <c>prefix-*</c> pattern. The client routes nothing else via the node;
    /// a test adds routes for the LoadBalancer or external IPs it uses (<see cref="ExternalClient.RouteViaNode"/>).
    /// </summary>
    public ExternalClient AddExternalClient(params IPAddress[] extraAddresses)
    {
        var netns = _namespaces.Add("ext");
        var nodeInterface = $"{Prefix}up0";
        var nodeAddress = IPAddress.Parse("192.168.77.1");
        var clientAddress = IPAddress.Parse("192.168.77.2");
        IpCommand.Ip("-n", NodeNamespace, "link", "add", nodeInterface, "type", "veth", "peer", "name", "eth0", "netns", netns);
        IpCommand.Sysctl(NodeNamespace, $"net.ipv4.conf.{nodeInterface}.rp_filter", "0");
        IpCommand.Ip("-n", NodeNamespace, "address", "add", $"{nodeAddress}/24", "dev", nodeInterface);
        IpCommand.Ip("-n", NodeNamespace, "link", "set", nodeInterface, "up");
        IpCommand.Ip("-n", netns, "address", "add", $"{clientAddress}/24", "dev", "eth0");
        foreach (var extra in extraAddresses)
            IpCommand.Ip("-n", netns, "address", "add", $"{extra}/32", "dev", "eth0");
        IpCommand.Ip("-n", netns, "link", "set", "eth0", "up");
        // The node answers the client directly on the shared link; the pod networks stay unreachable from outside.
        foreach (var extra in extraAddresses)
            IpCommand.Ip("-n", NodeNamespace, "route", "add", $"{extra}/32", "dev", nodeInterface);
        return new ExternalClient(netns, nodeInterface, nodeAddress, clientAddress);
    }

    /// <summary>The network between the node and <see cref="AddExternalClient"/>'s client.</summary>
    public const string ExternalNetwork = "192.168.77.0/24";

    public void Dispose() => _namespaces.Dispose();

    private static PodInterface AddPod(TestNamespaces namespaces, string node, string role, int subnet)
    {
        var pod = namespaces.Add(role);
        var hostInterface = $"{namespaces.Prefix}-{role}";
        var address = IPAddress.Parse($"10.201.{subnet}.2");
        var gateway = IPAddress.Parse($"10.201.{subnet}.1");

        var hostIfIndex = PodVeth.Join(node, hostInterface, pod);
        IpCommand.Ip("-n", node, "address", "add", $"{gateway}/24", "dev", hostInterface);
        IpCommand.Ip("-n", pod, "address", "add", $"{address}/24", "dev", "eth0");
        IpCommand.Ip("-n", pod, "route", "add", "default", "via", gateway.ToString());
        return new PodInterface(pod, hostInterface, hostIfIndex, address, gateway);
    }
}
