using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Routing;

/// <summary>
/// The canonical text form of <c>pr_routes4</c>: one line per entry in <see cref="RouteOrder"/> (golden tests, dumps).
/// <code>
/// rt 10.244.1.0/24 local via 192.168.1.10
/// rt 10.244.2.0/24 remote via 192.168.1.11
/// rt 192.168.1.11/32 remote node via 192.168.1.11
/// </code>
/// </summary>
public static class RouteDump
{
    public static string Line(RouteKey4 key, RouteValue value) => $"rt {key} {value}";

    public static IReadOnlyList<string> Lines(IEnumerable<KeyValuePair<RouteKey4, RouteValue>> entries) =>
        Sorted(entries).Select(entry => Line(entry.Key, entry.Value)).ToList();

    public static IEnumerable<KeyValuePair<RouteKey4, RouteValue>> Sorted(IEnumerable<KeyValuePair<RouteKey4, RouteValue>> entries) =>
        entries.OrderBy(entry => RouteOrder.Of(entry.Key));

    /// <summary>"local", "remote" (or "none" for an entry with neither flag: not one we write).</summary>
    public static string Owner(RouteValue value) =>
        value.Flags.HasFlag(RouteFlags.Local) ? "local" : value.Flags.HasFlag(RouteFlags.Remote) ? "remote" : "none";

    /// <summary>The entry of <paramref name="entries"/> with the longest prefix holding <paramref name="address"/> (the LPM lookup), or null.</summary>
    public static KeyValuePair<RouteKey4, RouteValue>? Lookup(IEnumerable<KeyValuePair<RouteKey4, RouteValue>> entries, System.Net.IPAddress address)
    {
        var host = new RouteKey4(new System.Net.IPNetwork(address, 32));
        KeyValuePair<RouteKey4, RouteValue>? best = null;
        foreach (var entry in entries)
            if (RouteOrder.Contains(entry.Key, host) && (best is null || entry.Key.PrefixLength > best.Value.Key.PrefixLength))
                best = entry;
        return best;
    }
}
