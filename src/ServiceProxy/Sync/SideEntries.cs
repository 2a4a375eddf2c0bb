using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// The desired entries of the maps keyed by service id besides the NAT maps: the LoadBalancer source ranges
/// (<c>pr_lb_src4</c>: each IPv4 range of a LoadBalancer Service, per programmed port id) and the service names
/// (<c>pr_svc_names</c>: every programmed id).
/// </summary>
public sealed record SideEntries(
    IReadOnlyDictionary<LbSourceRangeKey4, LbSourceRangeValue> SourceRanges,
    IReadOnlyDictionary<uint, ServiceName> Names)
{
    public static SideEntries Of(ServiceSnapshot snapshot, IReadOnlyDictionary<uint, ServicePortKey> owners)
    {
        var ranges = new Dictionary<LbSourceRangeKey4, LbSourceRangeValue>();
        var names = new Dictionary<uint, ServiceName>(owners.Count);
        foreach (var (id, key) in owners)
        {
            names[id] = new ServiceName(key.Namespace, key.Name, key.PortName, DesiredStateBuilder.ToL4(key.Protocol));
            if (!snapshot.Services.TryGetValue(key.Service, out var service) || service.Type != ServiceType.LoadBalancer)
                continue;
            foreach (var range in service.LoadBalancerSourceRanges)
                if (range.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
                    ranges[new LbSourceRangeKey4(id, range)] = default;
        }
        return new SideEntries(ranges, names);
    }
}
