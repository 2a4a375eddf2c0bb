using System.Buffers.Binary;
using System.Net;

namespace ProxyReplacement.Dataplane.Tests.Packets;

/// <summary>The fields of a TCP segment (RFC 793); <see cref="Build"/> computes the checksum over the pseudo-header.</summary>
public sealed record TcpSegment
{
    public const int MinimumHeaderLength = 20;

    public required ushort SourcePort { get; init; }
    public required ushort DestinationPort { get; init; }
    public uint Sequence { get; init; }
    public uint Acknowledgment { get; init; }
    public TcpFlags Flags { get; init; }
    public ushort Window { get; init; } = 64240;
    public ushort UrgentPointer { get; init; }

    /// <summary>Options, padded by the caller to a multiple of 4 bytes (at most 40).</summary>
    public byte[] Options { get; init; } = [];

    public byte[] Payload { get; init; } = [];

    /// <summary>Written instead of the computed checksum when set.</summary>
    public ushort? ChecksumOverride { get; init; }

    public int HeaderLength => MinimumHeaderLength + Options.Length;

    public byte[] Build(IPAddress source, IPAddress destination)
    {
        if (Options.Length % 4 != 0 || Options.Length > 40)
            throw new InvalidOperationException("TCP options must be padded to a multiple of 4 bytes, at most 40");

        var segment = new byte[HeaderLength + Payload.Length];
        var span = segment.AsSpan();
        BinaryPrimitives.WriteUInt16BigEndian(span[0..], SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(span[2..], DestinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(span[4..], Sequence);
        BinaryPrimitives.WriteUInt32BigEndian(span[8..], Acknowledgment);
        span[12] = (byte)(HeaderLength / 4 << 4);
        span[13] = (byte)Flags;
        BinaryPrimitives.WriteUInt16BigEndian(span[14..], Window);
        BinaryPrimitives.WriteUInt16BigEndian(span[18..], UrgentPointer);
        Options.CopyTo(span[20..]);
        Payload.CopyTo(span[HeaderLength..]);
        BinaryPrimitives.WriteUInt16BigEndian(span[16..],
            ChecksumOverride ?? Checksum.ComputeL4(source, destination, IpProtocol.Tcp, segment));
        return segment;
    }

    /// <summary>The sequence space the segment occupies: payload plus one for SYN and one for FIN.</summary>
    public uint SequenceLength =>
        (uint)Payload.Length + ((Flags & TcpFlags.Syn) != 0 ? 1u : 0u) + ((Flags & TcpFlags.Fin) != 0 ? 1u : 0u);
}
