using System.Buffers.Binary;
using System.Net.NetworkInformation;

namespace ProxyReplacement.Dataplane.Tests.Packets;

/// <summary>Reads an Ethernet frame back: addresses, EtherType and, for IPv4, the packet inside.</summary>
public sealed class FrameView
{
    private FrameView(byte[] bytes)
    {
        if (bytes.Length < EthernetHeader.Length)
            throw new FormatException($"frame of {bytes.Length} bytes is shorter than an Ethernet header");
        Bytes = bytes;
        Destination = new PhysicalAddress(bytes[0..6]);
        Source = new PhysicalAddress(bytes[6..12]);
        EtherType = BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(12));
    }

    public static FrameView Parse(byte[] frame) => new(frame);

    public byte[] Bytes { get; }
    public PhysicalAddress Destination { get; }
    public PhysicalAddress Source { get; }
    public ushort EtherType { get; }
    public ReadOnlyMemory<byte> Payload => Bytes.AsMemory(EthernetHeader.Length);

    /// <summary>The IPv4 packet; throws when the EtherType is not IPv4.</summary>
    public Ipv4View Ip => EtherType == Packets.EtherType.Ipv4
        ? new Ipv4View(Payload)
        : throw new FormatException($"EtherType 0x{EtherType:x4} is not IPv4");
}
