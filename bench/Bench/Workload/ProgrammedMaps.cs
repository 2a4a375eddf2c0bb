using System.Net;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.Bench.Workload;

/// <summary>
/// Fills a loaded dataplane the way the daemon does: the objects go through the ChangeTracker and the
/// real Syncer into the BPF maps, and the Service CIDR goes into pr_svc_cidr4.
/// </summary>
public static class ProgrammedMaps
{
    /// <summary>The Service CIDR of <see cref="SyntheticServices"/> (10.96.0.0/12), as the daemon's default.</summary>
    public static readonly ServiceCidrKey4 ServiceCidr = new(IPAddress.Parse("10.96.0.0"), 12);

    /// <summary>
    /// Map sizes that hold <paramref name="services"/> × <paramref name="endpointsPerService"/> (never below the defaults),
    /// and <paramref name="extraFrontends"/> more frontends (NodePorts) beside one per Service.
    /// </summary>
    /// <summary><c>--direct-table-size auto</c> for 10.96.0.0/12: 2^20 addresses, capped at 262,144 slots.</summary>
    public const int DirectSlotsOfDefaultCidr = 262_144;

    public static CoreMapSizes SizesFor(int services, int endpointsPerService, int extraFrontends = 0)
    {
        var defaults = new CoreMapSizes();
        return defaults with
        {
            Frontends = Math.Max(defaults.Frontends, services + extraFrontends + 1024),
            Backends = Math.Max(defaults.Backends, services * endpointsPerService + 4096),
            // the daemon's default for the synthetic Services' CIDR (10.96.0.0/12): its addresses, capped at 2^18
            DirectSlots = DirectSlotsOfDefaultCidr,
        };
    }

    /// <summary>Loads a dataplane sized for the cluster (no pins: it lives as long as the returned object).</summary>
    public static CoreDataplane Load(int services, int endpointsPerService, int extraFrontends = 0) =>
        CoreDataplane.Load(new DataplaneOptions { Sizes = SizesFor(services, endpointsPerService, extraFrontends) });

    /// <summary>
    /// Programs <paramref name="services"/> and <paramref name="slices"/> from cold; throws when a write failed.
    /// <paramref name="context"/> gives the node addresses NodePorts are served on (none by default). With
    /// <paramref name="sideMaps"/> the Syncer also keeps the LoadBalancer source ranges and the service names, as the daemon's does.
    /// </summary>
    public static (ChangeTracker Tracker, Syncer Syncer) Program(CoreDataplane dataplane, IEnumerable<Service> services, IEnumerable<EndpointSlice> slices,
        FrontendContext? context = null, bool sideMaps = false)
    {
        var tracker = new ChangeTracker();
        var syncer = sideMaps
            ? new Syncer(dataplane.Frontends, dataplane.Backends, sourceRanges: dataplane.LbSourceRanges, names: dataplane.ServiceNames, direct: dataplane.Direct,
                directStartsEmpty: true)
            : new Syncer(dataplane.Frontends, dataplane.Backends, direct: dataplane.Direct, directStartsEmpty: true); // the fast path, as the daemon's defaults
        if (context is not null)
            syncer.Context = context;
        tracker.ReplaceAll(services, slices);
        var result = syncer.Sync(tracker.Commit(), fullResync: true);
        if (result.Problems.Count > 0)
            throw new InvalidOperationException($"programming the maps: {result.Problems.Count} problems, first: {result.Problems[0].Reason}");
        dataplane.ServiceCidrs.Update(ServiceCidr, default);
        return (tracker, syncer);
    }

    public static (ChangeTracker Tracker, Syncer Syncer) Program(CoreDataplane dataplane, SyntheticServices cluster, FrontendContext? context = null,
        bool sideMaps = false) =>
        Program(dataplane, cluster.Services(), cluster.Slices(), context, sideMaps);
}
