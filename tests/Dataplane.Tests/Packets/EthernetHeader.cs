using System.Buffers.Binary;
using System.Net.NetworkInformation;

namespace ProxyReplacement.Dataplane.Tests.Packets;

/// <summary>An Ethernet II header (no VLAN tag); <see cref="Build"/> prepends it to a payload.</summary>
public sealed record EthernetHeader(PhysicalAddress Destination, PhysicalAddress Source, ushort EtherType)
{
    public const int Length = 14;

    public byte[] Build(ReadOnlySpan<byte> payload)
    {
        var frame = new byte[Length + payload.Length];
        WriteMac(frame.AsSpan(0, 6), Destination);
        WriteMac(frame.AsSpan(6, 6), Source);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12, 2), EtherType);
        payload.CopyTo(frame.AsSpan(Length));
        return frame;
    }

    /// <summary>The same header with source and destination exchanged (what a reply carries).</summary>
    public EthernetHeader Swapped() => this with { Destination = Source, Source = Destination };

    private static void WriteMac(Span<byte> destination, PhysicalAddress mac)
    {
        var bytes = mac.GetAddressBytes();
        if (bytes.Length != 6)
            throw new ArgumentException($"'{mac}' is not a 48-bit MAC address", nameof(mac));
        bytes.CopyTo(destination);
    }
}
