using System.Buffers.Binary;
using System.Net;

namespace ProxyReplacement.Dataplane.Tests.Packets;

/// <summary>
/// Reads an IPv4 packet. It may be cut short (the packet quoted inside an ICMP error): then
/// <see cref="Payload"/> holds only the bytes present and <see cref="IsComplete"/> is false.
/// </summary>
public sealed class Ipv4View
{
    private readonly ReadOnlyMemory<byte> _bytes;

    public Ipv4View(ReadOnlyMemory<byte> bytes)
    {
        var span = bytes.Span;
        if (span.Length < Ipv4Header.MinimumLength)
            throw new FormatException($"{span.Length} bytes are shorter than an IPv4 header");
        _bytes = bytes;
        if (Version != 4)
            throw new FormatException($"IP version {Version}, not 4");
        if (HeaderLength < Ipv4Header.MinimumLength || HeaderLength > span.Length)
            throw new FormatException($"IPv4 header length {HeaderLength} does not fit {span.Length} bytes");
    }

    private ReadOnlySpan<byte> Span => _bytes.Span;

    public int Version => Span[0] >> 4;
    public int HeaderLength => (Span[0] & 0x0F) * 4;
    public byte TypeOfService => Span[1];
    public ushort TotalLength => BinaryPrimitives.ReadUInt16BigEndian(Span[2..]);
    public ushort Identification => BinaryPrimitives.ReadUInt16BigEndian(Span[4..]);
    public ushort FlagsAndFragmentOffset => BinaryPrimitives.ReadUInt16BigEndian(Span[6..]);
    public bool DontFragment => (FlagsAndFragmentOffset & Ipv4Header.DontFragmentBit) != 0;
    public bool MoreFragments => (FlagsAndFragmentOffset & Ipv4Header.MoreFragmentsBit) != 0;
    public ushort FragmentOffset => (ushort)(FlagsAndFragmentOffset & 0x1FFF);
    public byte TimeToLive => Span[8];
    public byte Protocol => Span[9];
    public ushort HeaderChecksum => BinaryPrimitives.ReadUInt16BigEndian(Span[10..]);
    public IPAddress Source => new(Span[12..16]);
    public IPAddress Destination => new(Span[16..20]);
    public ReadOnlyMemory<byte> Header => _bytes[..HeaderLength];
    public ReadOnlyMemory<byte> Options => _bytes[Ipv4Header.MinimumLength..HeaderLength];

    /// <summary>The bytes after the header, up to the total length or the end of what is present.</summary>
    public ReadOnlyMemory<byte> Payload => _bytes[HeaderLength..Math.Max(HeaderLength, Math.Min(TotalLength, _bytes.Length))];

    /// <summary>All <see cref="TotalLength"/> bytes are present.</summary>
    public bool IsComplete => _bytes.Length >= TotalLength;

    public bool HeaderChecksumValid => Checksum.Verifies(Header.Span);

    public TcpView Tcp => Protocol == IpProtocol.Tcp ? new TcpView(Payload) : throw NotProtocol("TCP");
    public UdpView Udp => Protocol == IpProtocol.Udp ? new UdpView(Payload) : throw NotProtocol("UDP");
    public IcmpView Icmp => Protocol == IpProtocol.Icmp ? new IcmpView(Payload) : throw NotProtocol("ICMP");

    /// <summary>
    /// Whether the L4 checksum verifies: TCP and UDP over the pseudo-header (a zero UDP checksum means
    /// none and passes), ICMP over the message. Only meaningful when <see cref="IsComplete"/>.
    /// </summary>
    public bool L4ChecksumValid => Protocol switch
    {
        IpProtocol.Tcp => Checksum.VerifiesL4(Source, Destination, IpProtocol.Tcp, Payload.Span),
        IpProtocol.Udp => Udp.Checksum == 0 || Checksum.VerifiesL4(Source, Destination, IpProtocol.Udp, Payload.Span),
        IpProtocol.Icmp => Checksum.Verifies(Payload.Span),
        _ => throw NotProtocol("TCP, UDP or ICMP"),
    };

    private FormatException NotProtocol(string wanted) => new($"IP protocol {Protocol} is not {wanted}");
}
