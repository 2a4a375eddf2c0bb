using System.Buffers.Binary;
using System.Net;

namespace ProxyReplacement.Dataplane.Tests.Packets;

/// <summary>
/// The fields of an IPv4 header (RFC 791). <see cref="Build"/> lays it out in front of a payload,
/// with total length and header checksum computed unless a test overrides them to make a bad packet.
/// </summary>
public sealed record Ipv4Header
{
    public const int MinimumLength = 20;
    public const ushort DontFragmentBit = 0x4000;
    public const ushort MoreFragmentsBit = 0x2000;

    public required IPAddress Source { get; init; }
    public required IPAddress Destination { get; init; }
    public required byte Protocol { get; init; }
    public byte TypeOfService { get; init; }
    public ushort Identification { get; init; } = 0x4d2e;
    public byte TimeToLive { get; init; } = 64;
    public bool DontFragment { get; init; } = true;
    public bool MoreFragments { get; init; }

    /// <summary>Fragment offset in 8-byte units (RFC 791).</summary>
    public ushort FragmentOffset { get; init; }

    /// <summary>Options, padded by the caller to a multiple of 4 bytes (at most 40).</summary>
    public byte[] Options { get; init; } = [];

    /// <summary>Written instead of the real total length when set (for malformed packets).</summary>
    public ushort? TotalLengthOverride { get; init; }

    /// <summary>Written instead of the computed checksum when set.</summary>
    public ushort? ChecksumOverride { get; init; }

    public int HeaderLength => MinimumLength + Options.Length;

    public byte[] Build(ReadOnlySpan<byte> payload)
    {
        if (Options.Length % 4 != 0 || Options.Length > 40)
            throw new InvalidOperationException("IPv4 options must be padded to a multiple of 4 bytes, at most 40");
        if (FragmentOffset > 0x1FFF)
            throw new InvalidOperationException("fragment offset has 13 bits");

        var packet = new byte[HeaderLength + payload.Length];
        var header = packet.AsSpan(0, HeaderLength);
        header[0] = (byte)(4 << 4 | HeaderLength / 4);
        header[1] = TypeOfService;
        BinaryPrimitives.WriteUInt16BigEndian(header[2..], TotalLengthOverride ?? checked((ushort)packet.Length));
        BinaryPrimitives.WriteUInt16BigEndian(header[4..], Identification);
        var flagsAndOffset = (ushort)(FragmentOffset | (DontFragment ? DontFragmentBit : 0) | (MoreFragments ? MoreFragmentsBit : 0));
        BinaryPrimitives.WriteUInt16BigEndian(header[6..], flagsAndOffset);
        header[8] = TimeToLive;
        header[9] = Protocol;
        Checksum.WriteIpv4(header[12..16], Source);
        Checksum.WriteIpv4(header[16..20], Destination);
        Options.CopyTo(header[20..]);
        BinaryPrimitives.WriteUInt16BigEndian(header[10..], ChecksumOverride ?? Checksum.Compute(header));
        payload.CopyTo(packet.AsSpan(HeaderLength));
        return packet;
    }
}
