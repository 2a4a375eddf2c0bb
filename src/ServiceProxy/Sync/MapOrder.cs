using System.Buffers.Binary;
using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// The orders the control plane writes and prints map entries in, each as one integer sort key (sorting by a
/// <see cref="ulong"/> is far cheaper than by a chain of comparers; equal keys mean equal in that order):
/// frontends by VIP (numerically), port, protocol; backend keys by service id, then ordinal; backend values by
/// address, then port (the placement order of new backends).
/// </summary>
internal static class MapOrder
{
    public static ulong Frontend(NatFrontendKey4 key) =>
        (ulong)HostOrder(key.VipNbo) << 24 | (ulong)key.Port << 8 | key.Protocol;

    public static ulong Backend(NatBackendKey key) => (ulong)key.ServiceId << 32 | key.Ordinal;

    /// <summary>By service id, then highest ordinal first (the order of deletions: a half-done one leaves a dense prefix).</summary>
    public static ulong BackendHighestFirst(NatBackendKey key) => (ulong)key.ServiceId << 32 | (uint.MaxValue - key.Ordinal);

    public static ulong BackendValue(NatBackendValue4 value) => (ulong)HostOrder(value.AddressNbo) << 16 | value.Port;

    /// <summary><paramref name="items"/> in ascending <paramref name="key"/> order, stable; the list itself when already in order.</summary>
    public static IEnumerable<T> Ordered<T>(List<T> items, Func<T, ulong> key)
    {
        for (var i = 1; i < items.Count; i++)
            if (key(items[i - 1]) > key(items[i]))
                return items.OrderBy(key);
        return items;
    }

    private static uint HostOrder(uint nbo) => BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(nbo) : nbo;
}
