using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Maps;

namespace ProxyReplacement.Dataplane;

/// <summary>
/// The core maps opened from their pins, without loading any program: what inspection tools
/// (`service-proxy dump`) read while a daemon runs, or after it stopped.
/// </summary>
public sealed class PinnedCoreMaps : IDisposable
{
    private PinnedCoreMaps(string root)
    {
        Frontends = BpfMap<NatFrontendKey4, NatFrontendValue>.OpenPinned(PinRoot.PathOf(root, CoreObjectNames.Frontends));
        Backends = BpfMap<NatBackendKey, NatBackendValue4>.OpenPinned(PinRoot.PathOf(root, CoreObjectNames.Backends));
        Affinity = BpfMap<AffinityKey4, AffinityValue4>.OpenPinned(PinRoot.PathOf(root, CoreObjectNames.Affinity));
        Conntrack = BpfMap<ConntrackKey4, ConntrackValue4>.OpenPinned(PinRoot.PathOf(root, CoreObjectNames.Conntrack));
        ServiceCidrs = BpfMap<ServiceCidrKey4, ServiceCidrValue>.OpenPinned(PinRoot.PathOf(root, CoreObjectNames.ServiceCidrs));
        Counters = BpfPerCpuArray<ulong>.OpenPinned(PinRoot.PathOf(root, CoreObjectNames.Counters));
        // Pins of a daemon from before the socket hooks have no pr_sk_rev4: dump shows it empty.
        var socketReverse = PinRoot.PathOf(root, CoreObjectNames.SocketReverse);
        SocketReverse = File.Exists(socketReverse) ? BpfMap<SocketReverseKey4, SocketReverseValue4>.OpenPinned(socketReverse) : null;
        Config = BpfMap<uint, DataplaneConfig>.OpenPinned(PinRoot.PathOf(root, CoreObjectNames.Config));
        // Likewise pins from before host-netns affinity have no pr_host_netns.
        var hostNetns = PinRoot.PathOf(root, CoreObjectNames.HostNetns);
        HostNetns = File.Exists(hostNetns) ? BpfMap<uint, HostNetns>.OpenPinned(hostNetns) : null;
        LbSourceRanges = BpfMap<LbSourceRangeKey4, LbSourceRangeValue>.OpenPinned(PinRoot.PathOf(root, CoreObjectNames.LbSourceRanges));
        // Pins from before ABI 5 (adopted by a newer daemon, which adds it) have no pr_nat_direct4.
        var direct = PinRoot.PathOf(root, CoreObjectNames.Direct);
        Direct = File.Exists(direct) ? BpfMap<uint, NatDirectEntry4>.OpenPinned(direct) : null;
        ServiceNames = BpfMap<uint, ServiceName>.OpenPinned(PinRoot.PathOf(root, CoreObjectNames.ServiceNames));
        Routes = BpfMap<RouteKey4, RouteValue>.OpenPinned(PinRoot.PathOf(root, CoreObjectNames.Routes));
        PolicyEndpoints = BpfMap<PolicyEndpointKey4, PolicyEndpoint>.OpenPinned(PinRoot.PathOf(root, CoreObjectNames.PolicyEndpoints));
        PolicyPorts = BpfMap<PolicyPortKey, PolicyPortValue>.OpenPinned(PinRoot.PathOf(root, CoreObjectNames.PolicyPorts));
        PolicyPeers = BpfMap<PolicyPeerKey4, PolicyPeerValue>.OpenPinned(PinRoot.PathOf(root, CoreObjectNames.PolicyPeers));
        PolicyConntrack = BpfMap<PolicyConntrackKey4, PolicyConntrackValue4>.OpenPinned(PinRoot.PathOf(root, CoreObjectNames.PolicyConntrack));
    }

    public BpfMap<NatFrontendKey4, NatFrontendValue> Frontends { get; }
    public BpfMap<NatBackendKey, NatBackendValue4> Backends { get; }
    public BpfMap<AffinityKey4, AffinityValue4> Affinity { get; }
    public BpfMap<ConntrackKey4, ConntrackValue4> Conntrack { get; }
    public BpfMap<ServiceCidrKey4, ServiceCidrValue> ServiceCidrs { get; }
    public BpfPerCpuArray<ulong> Counters { get; }
    public BpfMap<SocketReverseKey4, SocketReverseValue4>? SocketReverse { get; }
    public BpfMap<uint, DataplaneConfig> Config { get; }
    public BpfMap<uint, HostNetns>? HostNetns { get; }
    public BpfMap<LbSourceRangeKey4, LbSourceRangeValue> LbSourceRanges { get; }

    /// <summary>pr_nat_direct4, the ClusterIP fast path; null when not pinned (ABI 4 pins).</summary>
    public BpfMap<uint, NatDirectEntry4>? Direct { get; }
    public BpfMap<uint, ServiceName> ServiceNames { get; }
    public BpfMap<RouteKey4, RouteValue> Routes { get; }
    public BpfMap<PolicyEndpointKey4, PolicyEndpoint> PolicyEndpoints { get; }
    public BpfMap<PolicyPortKey, PolicyPortValue> PolicyPorts { get; }
    public BpfMap<PolicyPeerKey4, PolicyPeerValue> PolicyPeers { get; }
    public BpfMap<PolicyConntrackKey4, PolicyConntrackValue4> PolicyConntrack { get; }

    /// <summary>pr_config[0], or null when it was never written.</summary>
    public DataplaneConfig? ReadConfig() => Config.TryLookup(0, out var config) ? config : null;

    /// <summary>The host netns cookie the daemon wrote (0: never written; null: no pr_host_netns pinned).</summary>
    public ulong? ReadHostNetnsCookie() => HostNetns is null ? null : HostNetns.TryLookup(0, out var host) ? host.Cookie : 0;

    /// <summary>Opens the pins under <paramref name="root"/>; a clear error when there are none.</summary>
    public static PinnedCoreMaps Open(string root)
    {
        if (!File.Exists(PinRoot.PathOf(root, CoreObjectNames.Frontends)))
            throw new BpfException(
                $"no pinned maps under {root}: no daemon has run with --bpffs-root {root} (or `cleanup` removed them)",
                Errno.ENOENT);
        PinnedConfigCheck.EnsureCompatible(root);
        return new PinnedCoreMaps(root);
    }

    public IReadOnlyDictionary<CounterReason, ulong> ReadCounters() => CounterTotals.Sum(Counters);

    public void Dispose()
    {
        Frontends.Dispose();
        Backends.Dispose();
        Affinity.Dispose();
        Conntrack.Dispose();
        ServiceCidrs.Dispose();
        Counters.Dispose();
        SocketReverse?.Dispose();
        Config.Dispose();
        HostNetns?.Dispose();
        LbSourceRanges.Dispose();
        Direct?.Dispose();
        ServiceNames.Dispose();
        Routes.Dispose();
        PolicyEndpoints.Dispose();
        PolicyPorts.Dispose();
        PolicyPeers.Dispose();
        PolicyConntrack.Dispose();
    }
}
