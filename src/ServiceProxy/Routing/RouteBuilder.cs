using System.Net;
using System.Net.Sockets;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Routing;

/// <summary>One desired entry and the Node it belongs to.</summary>
public readonly record struct RouteClaim(RouteValue Value, string Owner);

/// <summary>
/// The pure core of the routing module: every Node -> the entries of <c>pr_routes4</c>. No I/O; the same Nodes give
/// the same entries and problems on every node of the cluster (only LOCAL and REMOTE differ), because every rule
/// decides by node name, never by arrival order.
/// <list type="bullet">
/// <item>Each node's IPv4 InternalIPs (<see cref="NodeAddressClaims"/>): a /32 with <see cref="RouteFlags.Node"/> (the
/// peers whose Geneve packets are accepted), <see cref="RouteFlags.Local"/> for this node and
/// <see cref="RouteFlags.Remote"/> for the others, with the node's tunnel address (its first kept InternalIP).</item>
/// <item>Each node's IPv4 pod CIDRs: <see cref="RouteFlags.Local"/> for this node, else <see cref="RouteFlags.Remote"/>
/// with the owner's tunnel address. A remote node without an IPv4 InternalIP cannot be sent to: its pod CIDRs are
/// reported and skipped (their addresses then count as local: the kernel routes them).</item>
/// <item>The same prefix claimed twice: a node address beats a pod CIDR (the NODE flag must stay), otherwise the
/// first node by name keeps it. Reported.</item>
/// <item>Prefixes of different nodes inside one another are all kept and reported (<see cref="RouteOverlaps"/>).</item>
/// </list>
/// IPv6 pod CIDRs and InternalIPs are skipped silently: the IPv6 path (<c>pr_routes6</c>) does not exist yet.
/// ExternalIPs are not node entries: they are often not on the node at all (a cloud's 1:1 NAT).
/// </summary>
public static class RouteBuilder
{
    /// <param name="nodes">Every Node the source knows.</param>
    /// <param name="thisNode">The name this daemon runs as (<c>--hostname-override</c>).</param>
    public static DesiredRoutes Build(IEnumerable<Node> nodes, string thisNode)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(thisNode);
        var byName = nodes.OrderBy(node => node.Name, StringComparer.Ordinal).ToList();
        if (byName.Count == 0)
            return DesiredRoutes.Empty;
        var problems = new List<SyncProblem>();
        if (!byName.Any(node => node.Name == thisNode))
            problems.Add(Conflict($"this node {thisNode} is not among the {byName.Count} Nodes: its own pod CIDRs and addresses have no entry " +
                                  "(addresses without an entry are treated as local)"));

        var claims = NodeAddressClaims.Of(byName, problems);
        var entries = new Dictionary<RouteKey4, RouteClaim>();
        foreach (var (node, address) in claims.Claimed)
        {
            var owner = node == thisNode ? RouteFlags.Local : RouteFlags.Remote;
            entries[new RouteKey4(new IPNetwork(address, 32))] = new RouteClaim(new RouteValue(RouteFlags.Node | owner, claims.TunnelAddressOf(node)), node);
        }
        foreach (var node in byName)
            AddPodCidrs(node, node.Name == thisNode, claims.TunnelAddressOf(node.Name), entries, problems);
        RouteOverlaps.Report(entries, problems);

        var ordered = entries.OrderBy(entry => RouteOrder.Of(entry.Key)).ToList();
        return new DesiredRoutes(
            ordered.ToDictionary(entry => entry.Key, entry => entry.Value.Value),
            ordered.ToDictionary(entry => entry.Key, entry => entry.Value.Owner),
            problems);
    }

    private static void AddPodCidrs(Node node, bool local, IPAddress? tunnel, Dictionary<RouteKey4, RouteClaim> entries, List<SyncProblem> problems)
    {
        // IPv6 pod CIDRs: skipped without a word until the IPv6 path exists.
        var cidrs = node.PodCidrs.Where(cidr => cidr.BaseAddress.AddressFamily == AddressFamily.InterNetwork).Distinct().ToList();
        if (cidrs.Count == 0)
            return;
        if (tunnel is null)
        {
            var list = string.Join(", ", cidrs);
            if (!local)
            {
                problems.Add(Conflict($"node {node.Name}: no IPv4 InternalIP to send to: its pod CIDRs {list} are not routed"));
                return;
            }
            problems.Add(Conflict($"node {node.Name} (this node): no IPv4 InternalIP: other nodes cannot send to it; its pod CIDRs {list} are local"));
        }
        foreach (var cidr in cidrs)
        {
            var key = new RouteKey4(cidr);
            if (entries.TryGetValue(key, out var existing))
            {
                if (existing.Owner == node.Name)
                    continue; // its own address written as a /32 pod CIDR: the address entry says the same and more
                problems.Add(Conflict(existing.Value.Flags.HasFlag(RouteFlags.Node)
                    ? $"node {node.Name}: pod CIDR {cidr} is node {existing.Owner}'s address: the address entry is kept"
                    : $"node {node.Name}: pod CIDR {cidr} is also node {existing.Owner}'s: kept for {existing.Owner} (the first by name)"));
                continue;
            }
            entries[key] = new RouteClaim(new RouteValue(local ? RouteFlags.Local : RouteFlags.Remote, tunnel), node.Name);
        }
    }

    private static SyncProblem Conflict(string reason) => new(SyncProblemKind.Conflict, reason);
}
