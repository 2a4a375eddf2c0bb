using System.Buffers.Binary;
using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Routing;

/// <summary>
/// The order routes are written and dumped in: by network address (numerically), then by prefix length, so a
/// prefix comes right before the longer ones inside it (10.244.0.0/16, 10.244.1.0/24, 10.244.1.7/32, 10.245.0.0/16).
/// </summary>
public static class RouteOrder
{
    public static ulong Of(RouteKey4 key) => ((ulong)HostOrder(key.AddressNbo) << 8) | key.PrefixLength;

    /// <summary>An address as a host-order integer (the first octet in the high byte).</summary>
    public static uint HostOrder(uint nbo) => BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(nbo) : nbo;

    /// <summary>The host-order mask of a prefix length (0 for /0).</summary>
    public static uint Mask(int prefixLength) => prefixLength == 0 ? 0 : uint.MaxValue << (32 - prefixLength);

    /// <summary>Whether <paramref name="outer"/> holds every address of <paramref name="inner"/> (a prefix holds itself).</summary>
    public static bool Contains(RouteKey4 outer, RouteKey4 inner) =>
        outer.PrefixLength <= inner.PrefixLength
        && (HostOrder(outer.AddressNbo) & Mask((int)outer.PrefixLength)) == (HostOrder(inner.AddressNbo) & Mask((int)outer.PrefixLength));
}
