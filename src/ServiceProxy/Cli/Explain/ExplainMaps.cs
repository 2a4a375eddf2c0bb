using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;

namespace ProxyReplacement.ServiceProxy.Cli.Explain;

/// <summary>
/// The maps <see cref="PacketExplainer"/> reads: the live pins (<see cref="Of(PinnedCoreMaps)"/>) or fakes in tests.
/// It only reads them: explaining never writes an affinity or conntrack entry, nor counts.
/// </summary>
public sealed record ExplainMaps(
    IBpfMap<NatFrontendKey4, NatFrontendValue> Frontends,
    IBpfMap<NatBackendKey, NatBackendValue4> Backends,
    IBpfMap<AffinityKey4, AffinityValue4> Affinity,
    IBpfMap<ConntrackKey4, ConntrackValue4> Conntrack,
    IBpfMap<ServiceCidrKey4, ServiceCidrValue> ServiceCidrs,
    DataplaneConfig? Config,
    ulong? HostNetnsCookie,
    IBpfMap<LbSourceRangeKey4, LbSourceRangeValue>? SourceRanges = null,
    IBpfMap<uint, ServiceName>? Names = null,
    IBpfMap<RouteKey4, RouteValue>? Routes = null,
    IBpfMap<uint, NatDirectEntry4>? Direct = null)
{
    public static ExplainMaps Of(PinnedCoreMaps maps)
    {
        ArgumentNullException.ThrowIfNull(maps);
        return new(maps.Frontends, maps.Backends, maps.Affinity, maps.Conntrack, maps.ServiceCidrs, maps.ReadConfig(), maps.ReadHostNetnsCookie(),
            maps.LbSourceRanges, maps.ServiceNames, maps.Routes, maps.Direct);
    }
}
