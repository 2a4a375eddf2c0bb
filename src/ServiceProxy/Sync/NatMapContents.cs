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

    /// <summary>Empty, with room for the given numbers of entries (so filling it does not rehash as it grows).</summary>
    public NatMapContents(int frontendCapacity, int backendCapacity)
    {
        Frontends = new Dictionary<NatFrontendKey4, NatFrontendValue>(frontendCapacity);
        Backends = new Dictionary<NatBackendKey, NatBackendValue4>(backendCapacity);
    }

    public static NatMapContents Empty => new(0, 0);

    public Dictionary<NatFrontendKey4, NatFrontendValue> Frontends { get; }
    public Dictionary<NatBackendKey, NatBackendValue4> Backends { get; }

    public static NatMapContents Read(IBpfMap<NatFrontendKey4, NatFrontendValue> frontends, IBpfMap<NatBackendKey, NatBackendValue4> backends) =>
        new(frontends.ReadAll(), backends.ReadAll());

    public NatMapContents Clone() => new(Frontends, Backends);

    /// <summary>
    /// How many ordinals from <paramref name="first"/> (0: the cluster set; the local set's base) up are present for <paramref name="serviceId"/>: the largest count that is safe to
    /// publish. Looks no further than <paramref name="atMost"/> (whether a count is safe needs only that many lookups).
    /// </summary>
    public uint PresentBackendPrefix(uint serviceId, uint atMost = uint.MaxValue, uint first = 0)
    {
        uint count = 0;
        while (count < atMost && Backends.ContainsKey(new NatBackendKey(serviceId, first + count)))
            count++;
        return count;
    }
}
