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
    }

    public BpfMap<NatFrontendKey4, NatFrontendValue> Frontends { get; }
    public BpfMap<NatBackendKey, NatBackendValue4> Backends { get; }
    public BpfMap<AffinityKey4, AffinityValue4> Affinity { get; }
    public BpfMap<ConntrackKey4, ConntrackValue4> Conntrack { get; }
    public BpfMap<ServiceCidrKey4, ServiceCidrValue> ServiceCidrs { get; }
    public BpfPerCpuArray<ulong> Counters { get; }

    /// <summary>Opens the pins under <paramref name="root"/>; a clear error when there are none.</summary>
    public static PinnedCoreMaps Open(string root)
    {
        if (!File.Exists(PinRoot.PathOf(root, CoreObjectNames.Frontends)))
            throw new BpfException(
                $"no pinned maps under {root}: no daemon has run with --bpffs-root {root} (or `cleanup` removed them)",
                Errno.ENOENT);
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
    }
}
