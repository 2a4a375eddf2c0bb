using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace ProxyReplacement.Dataplane.Tests.Packets;

/// <summary>
/// The Internet checksum (RFC 1071), written from the RFC and independent of the dataplane so that
/// it can judge the program's output: the 16-bit one's complement of the one's complement sum of
/// the data taken as big-endian 16-bit words (an odd trailing byte is padded with a zero byte).
/// TCP and UDP add a pseudo-header of source, destination, zero, protocol and L4 length (RFC 793 §3.1,
/// RFC 768). A block that carries its correct checksum sums to 0xFFFF, i.e. computes to 0.
/// </summary>
public static class Checksum
{
    /// <summary>Adds <paramref name="data"/> to a running 32-bit sum (carries are kept until folded).</summary>
    public static uint Accumulate(uint sum, ReadOnlySpan<byte> data)
    {
        // A 32-bit accumulator of 16-bit words cannot overflow for blocks below 128 KiB; packets are far smaller.
        if (data.Length > 0x1_0000)
            throw new ArgumentException("block too large for a 32-bit accumulator", nameof(data));
        var i = 0;
        for (; i + 1 < data.Length; i += 2)
            sum += (uint)(data[i] << 8 | data[i + 1]);
        if (i < data.Length)
            sum += (uint)(data[i] << 8);
        return sum;
    }

    /// <summary>Folds the carries back in (end-around carry) until the sum fits 16 bits.</summary>
    public static ushort Fold(uint sum)
    {
        while (sum > 0xFFFF)
            sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)sum;
    }

    /// <summary>The checksum to store: the complement of the folded sum.</summary>
    public static ushort Finish(uint sum) => (ushort)~Fold(sum);

    /// <summary>The checksum of one block (e.g. an IPv4 header with its checksum field zeroed).</summary>
    public static ushort Compute(ReadOnlySpan<byte> data) => Finish(Accumulate(0, data));

    /// <summary>The sum of the TCP/UDP pseudo-header: src, dst, zero, protocol, L4 length.</summary>
    public static uint PseudoHeaderSum(IPAddress source, IPAddress destination, byte protocol, int l4Length)
    {
        Span<byte> pseudo = stackalloc byte[12];
        WriteIpv4(pseudo[..4], source);
        WriteIpv4(pseudo[4..8], destination);
        pseudo[8] = 0;
        pseudo[9] = protocol;
        BinaryPrimitives.WriteUInt16BigEndian(pseudo[10..], checked((ushort)l4Length));
        return Accumulate(0, pseudo);
    }

    /// <summary>The TCP or UDP checksum of <paramref name="segment"/> (its checksum field must hold zero).</summary>
    public static ushort ComputeL4(IPAddress source, IPAddress destination, byte protocol, ReadOnlySpan<byte> segment) =>
        Finish(Accumulate(PseudoHeaderSum(source, destination, protocol, segment.Length), segment));

    /// <summary>True when a block that includes its checksum field verifies (sums to all ones).</summary>
    public static bool Verifies(ReadOnlySpan<byte> data) => Fold(Accumulate(0, data)) == 0xFFFF;

    /// <summary>True when a TCP/UDP segment including its checksum verifies against the pseudo-header.</summary>
    public static bool VerifiesL4(IPAddress source, IPAddress destination, byte protocol, ReadOnlySpan<byte> segment) =>
        Fold(Accumulate(PseudoHeaderSum(source, destination, protocol, segment.Length), segment)) == 0xFFFF;

    internal static void WriteIpv4(Span<byte> destination, IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetwork || !address.TryWriteBytes(destination, out var written) || written != 4)
            throw new ArgumentException($"'{address}' is not an IPv4 address", nameof(address));
    }
}
