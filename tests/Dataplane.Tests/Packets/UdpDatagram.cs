using System.Buffers.Binary;
using System.Net;

namespace ProxyReplacement.Dataplane.Tests.Packets;

/// <summary>The fields of a UDP datagram (RFC 768); <see cref="Build"/> computes the checksum over the pseudo-header.</summary>
public sealed record UdpDatagram
{
    public const int HeaderLength = 8;

    public required ushort SourcePort { get; init; }
    public required ushort DestinationPort { get; init; }
    public byte[] Payload { get; init; } = [];

    /// <summary>Sends no checksum (zero), which RFC 768 allows over IPv4.</summary>
    public bool WithoutChecksum { get; init; }

    public byte[] Build(IPAddress source, IPAddress destination)
    {
        var datagram = new byte[HeaderLength + Payload.Length];
        var span = datagram.AsSpan();
        BinaryPrimitives.WriteUInt16BigEndian(span[0..], SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(span[2..], DestinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(span[4..], checked((ushort)datagram.Length));
        Payload.CopyTo(span[HeaderLength..]);
        if (!WithoutChecksum)
        {
            var checksum = Checksum.ComputeL4(source, destination, IpProtocol.Udp, datagram);
            // RFC 768: a computed zero is sent as all ones; zero means "no checksum".
            BinaryPrimitives.WriteUInt16BigEndian(span[6..], checksum == 0 ? (ushort)0xFFFF : checksum);
        }
        return datagram;
    }
}
