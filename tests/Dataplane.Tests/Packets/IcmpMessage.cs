using System.Buffers.Binary;

namespace ProxyReplacement.Dataplane.Tests.Packets;

/// <summary>
/// An ICMPv4 message (RFC 792): type, code, checksum, four "rest of header" bytes (echo id/sequence,
/// or unused zero for destination unreachable), then the body.
/// </summary>
public sealed record IcmpMessage(byte Type, byte Code, uint RestOfHeader, byte[] Body)
{
    public const int HeaderLength = 8;
    public const byte EchoReply = 0;
    public const byte DestinationUnreachable = 3;
    public const byte EchoRequest = 8;
    public const byte TimeExceeded = 11;
    public const byte PortUnreachableCode = 3;

    public static IcmpMessage Echo(ushort identifier, ushort sequence, byte[] data) =>
        new(EchoRequest, 0, (uint)identifier << 16 | sequence, data);

    /// <summary>
    /// A port unreachable about <paramref name="originalIpPacket"/>: its IP header and the first
    /// <paramref name="payloadBytes"/> bytes after it (RFC 792 asks for 8; Linux sends as much as fits).
    /// </summary>
    public static IcmpMessage PortUnreachable(ReadOnlySpan<byte> originalIpPacket, int payloadBytes = 8) =>
        new(DestinationUnreachable, PortUnreachableCode, 0, Quote(originalIpPacket, payloadBytes));

    public static IcmpMessage TimeExceededInTransit(ReadOnlySpan<byte> originalIpPacket, int payloadBytes = 8) =>
        new(TimeExceeded, 0, 0, Quote(originalIpPacket, payloadBytes));

    public byte[] Build()
    {
        var message = new byte[HeaderLength + Body.Length];
        message[0] = Type;
        message[1] = Code;
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(4), RestOfHeader);
        Body.CopyTo(message.AsSpan(HeaderLength));
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(2), Checksum.Compute(message));
        return message;
    }

    private static byte[] Quote(ReadOnlySpan<byte> originalIpPacket, int payloadBytes)
    {
        var headerLength = (originalIpPacket[0] & 0x0F) * 4;
        return originalIpPacket[..Math.Min(originalIpPacket.Length, headerLength + payloadBytes)].ToArray();
    }
}
