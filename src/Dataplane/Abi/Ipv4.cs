using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace ProxyReplacement.Dataplane.Abi;

/// <summary>IPPROTO_* numbers the dataplane balances.</summary>
public enum L4Protocol : byte
{
    Tcp = 6,
    Udp = 17,
    Sctp = 132,
}

/// <summary>
/// Conversions between .NET addresses/ports and the network-byte-order integers stored in maps.
/// A "NBO" uint holds the address bytes in memory order, i.e. as the kernel stores a __be32.
/// </summary>
public static class Ipv4
{
    public static uint ToNbo(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetwork)
            throw new ArgumentException($"'{address}' is not an IPv4 address", nameof(address));
        Span<byte> bytes = stackalloc byte[4];
        address.TryWriteBytes(bytes, out _);
        return BitConverter.ToUInt32(bytes);
    }

    public static IPAddress FromNbo(uint nbo)
    {
        Span<byte> bytes = stackalloc byte[4];
        BitConverter.TryWriteBytes(bytes, nbo);
        return new IPAddress(bytes);
    }

    public static ushort PortToNbo(ushort port) =>
        BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(port) : port;

    public static ushort PortFromNbo(ushort nbo) => PortToNbo(nbo);
}
