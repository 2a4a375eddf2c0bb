using System.Text;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Routing;

namespace ProxyReplacement.ServiceProxy.Cli;

/// <summary>
/// The routes part of `dump`: pr_routes4 (the routing module's map) sorted by prefix (<see cref="RouteOrder"/>), each
/// entry with its owner (local: this node; remote: another node), the owning node's address and whether it is a
/// node's own address (NODE: a tunnel peer) rather than a pod CIDR.
/// </summary>
public static class RoutesDump
{
    /// <param name="NodeAddress">The owning node's IPv4 address (the tunnel endpoint); null when the entry has none.</param>
    /// <param name="Node">PR_ROUTE_F_NODE: the prefix is a node's own address.</param>
    public sealed record Row(string Prefix, string Owner, string? NodeAddress, bool Node, uint Flags);

    public static IReadOnlyList<Row> Read(IBpfMap<RouteKey4, RouteValue> routes)
    {
        ArgumentNullException.ThrowIfNull(routes);
        return RouteDump.Sorted(routes.ReadAll())
            .Select(entry => new Row(entry.Key.ToString(), RouteDump.Owner(entry.Value), entry.Value.NodeAddress?.ToString(),
                entry.Value.Flags.HasFlag(RouteFlags.Node), (uint)entry.Value.Flags))
            .ToList();
    }

    public static void AppendText(StringBuilder text, IReadOnlyList<Row> rows)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(rows);
        text.Append($"\nROUTES ({rows.Count}; an address without an entry is local: the kernel routes it)\n");
        if (rows.Count > 0)
            text.Append($"  {"PREFIX",-18} {"OWNER",-6} {"KIND",-12} NODE ADDRESS\n");
        foreach (var row in rows)
            text.Append($"  {row.Prefix,-18} {row.Owner,-6} {(row.Node ? "node address" : "pod CIDR"),-12} {row.NodeAddress ?? "-"}\n");
    }
}
