using System.Net;
using System.Net.Sockets;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Routing;

/// <summary>
/// Which node each IPv4 InternalIP belongs to, and each node's tunnel address: the first IPv4 InternalIP it keeps
/// (Kubernetes lists a node's primary address first). An address two nodes report goes to the first by name; an
/// address that cannot be a node's (0.0.0.0, loopback, multicast, reserved, broadcast) is skipped. Both are reported.
/// IPv6 InternalIPs are skipped silently: there is no IPv6 route map yet.
/// </summary>
internal sealed class NodeAddressClaims
{
    private readonly Dictionary<string, IPAddress> _tunnelAddresses = new(StringComparer.Ordinal);
    private readonly List<(string Node, IPAddress Address)> _claimed = [];

    private NodeAddressClaims()
    {
    }

    /// <summary>Every kept address with its node, in node-name order, then the order the node lists them.</summary>
    public IReadOnlyList<(string Node, IPAddress Address)> Claimed => _claimed;

    /// <summary>The node's tunnel address (its first kept IPv4 InternalIP), or null when it kept none.</summary>
    public IPAddress? TunnelAddressOf(string node) => _tunnelAddresses.GetValueOrDefault(node);

    /// <param name="nodesByName">The Nodes, sorted by name (ordinal): the first claim of an address wins.</param>
    public static NodeAddressClaims Of(IReadOnlyList<Node> nodesByName, List<SyncProblem> problems)
    {
        var claims = new NodeAddressClaims();
        var owners = new Dictionary<IPAddress, string>();
        foreach (var node in nodesByName)
        {
            foreach (var address in node.IPs(NodeAddressType.InternalIP).Where(ip => ip.AddressFamily == AddressFamily.InterNetwork).Distinct())
            {
                if (!Usable(address))
                {
                    problems.Add(Conflict($"node {node.Name}: InternalIP {address} cannot be a node's address: skipped"));
                    continue;
                }
                if (owners.TryGetValue(address, out var owner))
                {
                    problems.Add(Conflict($"node {node.Name}: InternalIP {address} is also node {owner}'s: kept for {owner} (the first by name)"));
                    continue;
                }
                owners[address] = node.Name;
                claims._claimed.Add((node.Name, address));
                claims._tunnelAddresses.TryAdd(node.Name, address);
            }
        }
        return claims;
    }

    /// <summary>A unicast address another node can send to: not 0.0.0.0/8, 127.0.0.0/8, multicast, 240.0.0.0/4 or broadcast.</summary>
    private static bool Usable(IPAddress address)
    {
        var first = address.GetAddressBytes()[0];
        return first is not (0 or 127) && first < 224;
    }

    private static SyncProblem Conflict(string reason) => new(SyncProblemKind.Conflict, reason);
}
