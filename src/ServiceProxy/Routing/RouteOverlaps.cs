using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Routing;

/// <summary>
/// Reports entries of one node that lie inside another node's pod CIDR: a pod CIDR inside (or around) another node's,
/// a node address inside another node's pod CIDR. Both entries are kept: the dataplane's longest-prefix match sends
/// each address to the owner of the most specific entry, as the kernel's routing table would with both routes.
/// Identical prefixes never get here (<see cref="RouteBuilder"/> keeps one of them).
/// </summary>
internal static class RouteOverlaps
{
    public static void Report(IReadOnlyDictionary<RouteKey4, RouteClaim> entries, List<SyncProblem> problems)
    {
        // Pod CIDRs by key, and the prefix lengths they use: each entry looks for a shorter pod CIDR around it once
        // per length (at most 32 lookups), not against every other entry.
        var podCidrs = entries.Where(entry => !entry.Value.Value.Flags.HasFlag(RouteFlags.Node))
            .ToDictionary(entry => entry.Key, entry => entry.Value.Owner);
        var lengths = podCidrs.Keys.Select(key => (int)key.PrefixLength).Distinct().Order().ToArray();
        foreach (var (key, claim) in entries.OrderBy(entry => RouteOrder.Of(entry.Key)))
        {
            var address = RouteOrder.HostOrder(key.AddressNbo);
            foreach (var length in lengths)
            {
                if (length >= key.PrefixLength)
                    break;
                var outer = new RouteKey4(new IPNetwork(FromHostOrder(address & RouteOrder.Mask(length)), length));
                if (!podCidrs.TryGetValue(outer, out var outerOwner) || outerOwner == claim.Owner)
                    continue;
                problems.Add(new SyncProblem(SyncProblemKind.Conflict, claim.Value.Flags.HasFlag(RouteFlags.Node)
                    ? $"node {claim.Owner}: InternalIP {key.Network.BaseAddress} is inside node {outerOwner}'s pod CIDR {outer}: " +
                      $"the address goes to {claim.Owner} (the longer prefix wins)"
                    : $"node {claim.Owner}: pod CIDR {key} overlaps node {outerOwner}'s pod CIDR {outer}: both kept, " +
                      $"the addresses of {key} go to {claim.Owner} (the longer prefix wins)"));
            }
        }
    }

    private static IPAddress FromHostOrder(uint address) =>
        new([(byte)(address >> 24), (byte)(address >> 16), (byte)(address >> 8), (byte)address]);
}
