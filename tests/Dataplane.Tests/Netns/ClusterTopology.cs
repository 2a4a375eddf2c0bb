using System.Net;

namespace ProxyReplacement.Dataplane.Tests.Netns;

/// <summary>
/// A many-node cluster in network namespaces, wired the way a point-to-point CNI (Calico) wires one:
/// <list type="bullet">
/// <item>an underlay: namespace <c>prefix-ul</c> holding the bridge <c>br0</c> (192.168.60.0/24, <see cref="UnderlayNetwork"/>);</item>
/// <item>nodes <c>prefix-a</c>, <c>prefix-b</c>, ... (Kubernetes names <c>node-a</c>, <c>node-b</c>, ...), each a router
/// (forwarding on, rp_filter off) whose <c>eth0</c> (<see cref="NodeInterface"/>) is a port of the bridge and holds
/// 192.168.60.(11+k)/24; node k owns the pod CIDR 10.244.(k+1).0/24;</item>
/// <item>pods <c>prefix-a0</c>, <c>prefix-a1</c>, ...: pod i of node k holds 10.244.(k+1).(2+i)/32 on its <c>eth0</c>, with a
/// default route via 169.254.1.1 (<see cref="PodGateway"/>, a neighbour entry pointing at the node's end); the node's end
/// is <c>prefix-a0</c> (matched by <see cref="WorkloadInterfacePattern"/>), MAC ee:ee:ee:ee:ee:ee, no address, a /32
/// host route to the pod;</item>
/// <item>routes between nodes as the CNI sets them: on every node, each other node's pod CIDR via that node's underlay
/// address;</item>
/// <item>an external client <c>prefix-ext</c> on the bridge (192.168.60.100/24, <see cref="ExternalAddress"/>), no node,
/// with the same routes to every pod CIDR (so it can also talk to a pod IP directly).</item>
/// </list>
/// No interface is ever created in the host namespace. Dispose deletes every namespace it created (and with them
/// every veth and the bridge), also when construction fails halfway.
/// </summary>
public sealed class ClusterTopology : IDisposable
{
    /// <summary>The node's underlay interface, in every node namespace (the daemon's <c>--host-interfaces</c>).</summary>
    public const string NodeInterface = "eth0";

    public const string UnderlayNetwork = "192.168.60.0/24";

    /// <summary>The pods' default gateway, link-local as Calico's; no interface holds it.</summary>
    public static readonly IPAddress PodGateway = IPAddress.Parse("169.254.1.1");

    /// <summary>The MAC address of every node end of a pod veth (Calico's), which the pods' gateway neighbour entry names.</summary>
    public const string NodeVethMac = "ee:ee:ee:ee:ee:ee";

    public static readonly IPAddress ExternalAddress = IPAddress.Parse("192.168.60.100");

    private const string Bridge = "br0";
    private const int MaxNodes = 26;
    private const int MaxPodsPerNode = 200;

    private readonly TestNamespaces _namespaces;
    private readonly List<ClusterNode> _nodes = [];
    private bool _segmentationOffload;

    private ClusterTopology(TestNamespaces namespaces) => _namespaces = namespaces;

    /// <summary><c>prt-xxxx</c>: every namespace and pod veth of this topology starts with it.</summary>
    public string Prefix => _namespaces.Prefix;

    /// <summary>Every namespace this topology created.</summary>
    public IReadOnlyList<string> Namespaces => _namespaces.Created;

    /// <summary>The namespace of the bridge.</summary>
    public string UnderlayNamespace { get; private set; } = "";

    public IReadOnlyList<ClusterNode> Nodes => _nodes;

    /// <summary>The client on the underlay that is no node (<see cref="ExternalAddress"/>).</summary>
    public UnderlayClient External { get; private set; } = null!;

    /// <summary>Matches the node end of every pod veth, and nothing else in a node namespace (the daemon's <c>--workload-interfaces</c>).</summary>
    public string WorkloadInterfacePattern => $"{Prefix}-*";

    /// <param name="nodeCount">Nodes, 1..26 (a, b, c, ...).</param>
    /// <param name="podsPerNode">Pods each node starts with, 0..200 (more with <see cref="AddPod"/>).</param>
    /// <param name="prefix">The <c>prt-xxxx</c> name prefix; random when null.</param>
    /// <param name="segmentationOffload">
    /// Whether senders may hand the veths TCP/UDP super-packets (TSO/GSO, the veth default). Off (the default) every
    /// packet is wire-sized, at most the MTU, as on a real link: a veth passes a GSO packet whatever its segments' size, so
    /// with offload on, a packet grown past the MTU (by encapsulation, say) would go through here and be lost on a wire.
    /// </param>
    public static ClusterTopology Create(int nodeCount = 3, int podsPerNode = 2, string? prefix = null, bool segmentationOffload = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nodeCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(nodeCount, MaxNodes);
        ArgumentOutOfRangeException.ThrowIfLessThan(podsPerNode, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(podsPerNode, MaxPodsPerNode);
        var topology = new ClusterTopology(new TestNamespaces(prefix)) { _segmentationOffload = segmentationOffload };
        try
        {
            topology.UnderlayNamespace = topology._namespaces.Add("ul");
            IpCommand.Ip("-n", topology.UnderlayNamespace, "link", "add", Bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0");
            IpCommand.Ip("-n", topology.UnderlayNamespace, "link", "set", Bridge, "up");

            for (var k = 0; k < nodeCount; k++)
                topology._nodes.Add(topology.AddNode(k));
            topology.External = topology.AddExternalClient();
            foreach (var node in topology._nodes)
            {
                foreach (var other in topology._nodes.Where(other => other != node))
                    IpCommand.Ip("-n", node.Namespace, "route", "add", other.PodCidr, "via", other.Address.ToString());
                for (var i = 0; i < podsPerNode; i++)
                    topology.AddPod(node);
            }
            return topology;
        }
        catch
        {
            topology.Dispose();
            throw;
        }
    }

    /// <summary>The node named <c>node-x</c>, or with namespace <c>prefix-x</c>.</summary>
    public ClusterNode Node(string name) =>
        _nodes.FirstOrDefault(node => node.Name == name || node.Namespace == name)
        ?? throw new ArgumentException($"no node {name} in {Prefix}", nameof(name));

    /// <summary>Adds the next pod to <paramref name="node"/> (its veth appears in the node namespace now, as on a scale-up).</summary>
    public PodInterface AddPod(ClusterNode node)
    {
        var index = node.Pods.Count;
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, MaxPodsPerNode);
        var role = $"{node.Letter}{index}";
        var pod = _namespaces.Add(role);
        var hostInterface = $"{Prefix}-{role}";
        var address = IPAddress.Parse($"10.244.{node.Index + 1}.{2 + index}");

        var hostIfIndex = PodVeth.Join(node.Namespace, hostInterface, pod, NodeVethMac);
        IpCommand.Ip("-n", node.Namespace, "route", "add", $"{address}/32", "dev", hostInterface, "scope", "link");
        IpCommand.Ip("-n", pod, "address", "add", $"{address}/32", "dev", "eth0");
        IpCommand.Ip("-n", pod, "route", "add", $"{PodGateway}/32", "dev", "eth0", "scope", "link");
        IpCommand.Ip("-n", pod, "route", "add", "default", "via", PodGateway.ToString(), "dev", "eth0");
        // Calico lets the node answer ARP for the gateway (proxy_arp); a fixed entry does the same without depending on
        // the node's own routes to 169.254.1.1.
        IpCommand.Ip("-n", pod, "neigh", "replace", PodGateway.ToString(), "lladdr", NodeVethMac, "dev", "eth0", "nud", "permanent");
        LimitToWireSize(pod, "eth0");

        var podInterface = new PodInterface(pod, hostInterface, hostIfIndex, address, PodGateway);
        node.Add(podInterface);
        return podInterface;
    }

    public void Dispose() => _namespaces.Dispose();

    private ClusterNode AddNode(int index)
    {
        var letter = (char)('a' + index);
        var netns = _namespaces.Add(letter.ToString());
        PodVeth.MakeRouter(netns);
        var address = IPAddress.Parse($"192.168.60.{11 + index}");
        JoinUnderlay(netns, $"ul-{letter}", address);
        IpCommand.Sysctl(netns, $"net.ipv4.conf.{NodeInterface}.rp_filter", "0");
        return new ClusterNode(index, letter, $"node-{letter}", netns, address, $"10.244.{index + 1}.0/24");
    }

    private UnderlayClient AddExternalClient()
    {
        var netns = _namespaces.Add("ext");
        JoinUnderlay(netns, "ul-ext", ExternalAddress);
        var client = new UnderlayClient(netns, ExternalAddress);
        foreach (var node in _nodes)
            client.RouteVia(node.PodCidr, node);
        return client;
    }

    /// <summary>A veth from the bridge (port <paramref name="port"/>) to <paramref name="netns"/>'s eth0, which gets <paramref name="address"/>/24.</summary>
    private void JoinUnderlay(string netns, string port, IPAddress address)
    {
        IpCommand.Ip("-n", UnderlayNamespace, "link", "add", port, "type", "veth", "peer", "name", NodeInterface, "netns", netns);
        IpCommand.Ip("-n", UnderlayNamespace, "link", "set", port, "master", Bridge);
        IpCommand.Ip("-n", UnderlayNamespace, "link", "set", port, "up");
        IpCommand.Ip("-n", netns, "address", "add", $"{address}/24", "dev", NodeInterface);
        IpCommand.Ip("-n", netns, "link", "set", NodeInterface, "up");
        LimitToWireSize(netns, NodeInterface);
    }

    /// <summary>Unless segmentation offload is wanted: TSO and GSO off, so that what <paramref name="netns"/> sends through <paramref name="device"/> is wire-sized.</summary>
    private void LimitToWireSize(string netns, string device)
    {
        if (!_segmentationOffload)
            IpCommand.InNamespace(netns, "ethtool", "-K", device, "tso", "off", "gso", "off");
    }
}

/// <summary>
/// A node of a <see cref="ClusterTopology"/>: index k (0 for a), its Kubernetes name <c>node-x</c>, its namespace, its
/// underlay address (InternalIP) on <see cref="ClusterTopology.NodeInterface"/>, its pod CIDR and its pods.
/// </summary>
public sealed class ClusterNode(int index, char letter, string name, string netns, IPAddress address, string podCidr)
{
    private readonly List<PodInterface> _pods = [];

    public int Index { get; } = index;
    public char Letter { get; } = letter;
    public string Name { get; } = name;
    public string Namespace { get; } = netns;
    public IPAddress Address { get; } = address;
    public string PodCidr { get; } = podCidr;
    public IReadOnlyList<PodInterface> Pods => _pods;

    public override string ToString() => $"{Name} ({Namespace}, {Address}, pods {PodCidr})";

    internal void Add(PodInterface pod) => _pods.Add(pod);
}

/// <summary>A host on the underlay that is no node: its namespace (interface <c>eth0</c>) and address.</summary>
public sealed record UnderlayClient(string Namespace, IPAddress Address)
{
    /// <summary>Routes <paramref name="destination"/> (an address or CIDR) from this client via <paramref name="node"/>, as a router would.</summary>
    public void RouteVia(string destination, ClusterNode node) =>
        IpCommand.Ip("-n", Namespace, "route", "replace", destination.Contains('/') ? destination : $"{destination}/32", "via", node.Address.ToString());
}
