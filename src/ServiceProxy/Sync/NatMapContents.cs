using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>The entries of the NAT frontend and backend maps (desired, or as read from the dataplane).</summary>
public sealed class NatMapContents
{
    public NatMapContents(
        IEnumerable<KeyValuePair<NatFrontendKey4, NatFrontendValue>> frontends,
        IEnumerable<KeyValuePair<NatBackendKey, NatBackendValue4>> backends)
    {
        Frontends = new Dictionary<NatFrontendKey4, NatFrontendValue>(frontends);
        Backends = new Dictionary<NatBackendKey, NatBackendValue4>(backends);
    }

    public static NatMapContents Empty => new([], []);

    public Dictionary<NatFrontendKey4, NatFrontendValue> Frontends { get; }
    public Dictionary<NatBackendKey, NatBackendValue4> Backends { get; }

    public static NatMapContents Read(IBpfMap<NatFrontendKey4, NatFrontendValue> frontends, IBpfMap<NatBackendKey, NatBackendValue4> backends) =>
        new(frontends.ReadAll(), backends.ReadAll());

    public NatMapContents Clone() => new(Frontends, Backends);

    /// <summary>How many ordinals from 0 up are present for <paramref name="serviceId"/>: the largest count that is safe to publish.</summary>
    public uint PresentBackendPrefix(uint serviceId)
    {
        uint count = 0;
        while (Backends.ContainsKey(new NatBackendKey(serviceId, count)))
            count++;
        return count;
    }
}
