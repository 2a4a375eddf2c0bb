using System.Net;
using ProxyReplacement.Dataplane.Tests.Packets;

namespace ProxyReplacement.Dataplane.Tests.Golden;

/// <summary>
/// Builds the Ethernet frames of the scenarios with the independent packet builder: inputs (pod -> host)
/// and the frames the program is expected to produce. Header fields a test does not care about are fixed,
/// so an expected frame differs from its input only where the program must rewrite.
/// </summary>
public static class Frames
{
    public const ushort Identification = 0x1c46;
    public const byte TimeToLive = 64;

    public static Ipv4Header Ip(IPAddress source, IPAddress destination, byte protocol) => new()
    {
        Source = source, Destination = destination, Protocol = protocol, Identification = Identification, TimeToLive = TimeToLive,
    };

    public static byte[] FromPod(byte[] ipPacket) =>
        new EthernetHeader(Topology.HostMac, Topology.PodMac, EtherType.Ipv4).Build(ipPacket);

    /// <summary>What a reject reply carries: the input's MAC addresses exchanged.</summary>
    public static byte[] BackToPod(byte[] ipPacket) =>
        new EthernetHeader(Topology.PodMac, Topology.HostMac, EtherType.Ipv4).Build(ipPacket);

    public static TcpSegment TcpSegment(Endpoint source, Endpoint destination, TcpFlags flags, uint sequence = 1000, uint acknowledgment = 0,
        byte[]? payload = null, byte[]? options = null) => new()
    {
        SourcePort = source.Port, DestinationPort = destination.Port, Sequence = sequence, Acknowledgment = acknowledgment,
        Flags = flags, Payload = payload ?? [], Options = options ?? [],
    };

    public static byte[] TcpPacket(Endpoint source, Endpoint destination, TcpFlags flags, uint sequence = 1000, uint acknowledgment = 0,
        byte[]? payload = null, byte[]? options = null) =>
        Ip(source.Address, destination.Address, IpProtocol.Tcp)
            .Build(TcpSegment(source, destination, flags, sequence, acknowledgment, payload, options).Build(source.Address, destination.Address));

    public static byte[] Tcp(Endpoint source, Endpoint destination, TcpFlags flags, uint sequence = 1000, uint acknowledgment = 0,
        byte[]? payload = null, byte[]? options = null) =>
        FromPod(TcpPacket(source, destination, flags, sequence, acknowledgment, payload, options));

    public static byte[] UdpPacket(Endpoint source, Endpoint destination, byte[]? payload = null) =>
        Ip(source.Address, destination.Address, IpProtocol.Udp)
            .Build(new UdpDatagram { SourcePort = source.Port, DestinationPort = destination.Port, Payload = payload ?? DefaultUdpPayload }
                .Build(source.Address, destination.Address));

    public static byte[] Udp(Endpoint source, Endpoint destination, byte[]? payload = null) =>
        FromPod(UdpPacket(source, destination, payload));

    public static byte[] Icmp(IPAddress source, IPAddress destination, IcmpMessage message) =>
        FromPod(Ip(source, destination, IpProtocol.Icmp).Build(message.Build()));

    /// <summary>An odd-length payload, so the one's complement sums exercise the padding byte.</summary>
    public static readonly byte[] DefaultUdpPayload = "query:a.example"u8.ToArray();

    /// <summary>MSS 1460, SACK permitted, NOP, window scale 7: what a Linux SYN carries (without timestamps).</summary>
    public static readonly byte[] SynOptions = [0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x01, 0x03, 0x03, 0x07, 0x01, 0x01];
}
