using System.Buffers.Binary;

namespace ProxyReplacement.Dataplane.Tests.Packets;

/// <summary>Reads a TCP segment (header fields, options, payload).</summary>
public sealed class TcpView
{
    private readonly ReadOnlyMemory<byte> _bytes;

    public TcpView(ReadOnlyMemory<byte> bytes)
    {
        if (bytes.Length < TcpSegment.MinimumHeaderLength)
            throw new FormatException($"{bytes.Length} bytes are shorter than a TCP header");
        _bytes = bytes;
    }

    private ReadOnlySpan<byte> Span => _bytes.Span;

    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(Span[0..]);
    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(Span[2..]);
    public uint Sequence => BinaryPrimitives.ReadUInt32BigEndian(Span[4..]);
    public uint Acknowledgment => BinaryPrimitives.ReadUInt32BigEndian(Span[8..]);
    public int HeaderLength => (Span[12] >> 4) * 4;

    /// <summary>The four bits after the data offset: reserved (and the old NS bit); zero on the wire.</summary>
    public int Reserved => Span[12] & 0x0F;

    public TcpFlags Flags => (TcpFlags)Span[13];
    public ushort Window => BinaryPrimitives.ReadUInt16BigEndian(Span[14..]);
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(Span[16..]);
    public ushort UrgentPointer => BinaryPrimitives.ReadUInt16BigEndian(Span[18..]);
    public ReadOnlyMemory<byte> Options => _bytes[TcpSegment.MinimumHeaderLength..HeaderLength];
    public ReadOnlyMemory<byte> Payload => _bytes[HeaderLength..];
}

/// <summary>Reads a UDP datagram (or its first bytes, when quoted in an ICMP error).</summary>
public sealed class UdpView
{
    private readonly ReadOnlyMemory<byte> _bytes;

    public UdpView(ReadOnlyMemory<byte> bytes)
    {
        if (bytes.Length < UdpDatagram.HeaderLength)
            throw new FormatException($"{bytes.Length} bytes are shorter than a UDP header");
        _bytes = bytes;
    }

    private ReadOnlySpan<byte> Span => _bytes.Span;

    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(Span[0..]);
    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(Span[2..]);
    public ushort Length => BinaryPrimitives.ReadUInt16BigEndian(Span[4..]);
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(Span[6..]);
    public ReadOnlyMemory<byte> Payload => _bytes[UdpDatagram.HeaderLength..];
}

/// <summary>Reads an ICMPv4 message; for errors, <see cref="Quoted"/> is the IPv4 packet it is about.</summary>
public sealed class IcmpView
{
    private readonly ReadOnlyMemory<byte> _bytes;

    public IcmpView(ReadOnlyMemory<byte> bytes)
    {
        if (bytes.Length < IcmpMessage.HeaderLength)
            throw new FormatException($"{bytes.Length} bytes are shorter than an ICMP header");
        _bytes = bytes;
    }

    private ReadOnlySpan<byte> Span => _bytes.Span;

    public byte Type => Span[0];
    public byte Code => Span[1];
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(Span[2..]);
    public uint RestOfHeader => BinaryPrimitives.ReadUInt32BigEndian(Span[4..]);
    public ReadOnlyMemory<byte> Body => _bytes[IcmpMessage.HeaderLength..];
    public bool IsError => Type is IcmpMessage.DestinationUnreachable or IcmpMessage.TimeExceeded;

    /// <summary>The quoted packet of an error message (possibly cut short).</summary>
    public Ipv4View Quoted => IsError ? new Ipv4View(Body) : throw new FormatException($"ICMP type {Type} quotes no packet");
}
