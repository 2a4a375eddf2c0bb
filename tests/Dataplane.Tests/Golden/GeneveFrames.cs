using System.Buffers.Binary;
using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Tests.Packets;

namespace ProxyReplacement.Dataplane.Tests.Golden;

/// <summary>
/// Geneve frames as one node's dataplane sends them to another (pr_tunnel.h), built independently from the
/// byte layout of RFC 8926 and pr_map_abi.h's <c>struct pr_geneve_opt4</c>: outer Ethernet, outer IPv4 (DF, TTL 64,
/// identification 0), UDP to the tunnel port without checksum, the 8-byte Geneve header (Ethernet payload, the
/// VNI), one 12-byte option of class 0xFFF0, then the inner Ethernet frame.
/// </summary>
public static class GeneveFrames
{
    public const ushort Port = MultiNodeConfig.DefaultTunnelPort;
    public const uint Vni = MultiNodeConfig.DefaultTunnelVni;

    /// <summary><c>enum pr_geneve_opt_type</c>.</summary>
    public const byte Tunnel = 1, Dsr = 2, Reply = 3;

    public static byte[] Encapsulated(EthernetHeader outerEthernet, IPAddress from, IPAddress to, ushort sourcePort, byte type,
        Endpoint? frontend, byte protocol, byte[] innerFrame)
    {
        var geneve = new byte[8 + 12];
        geneve[0] = 3; // version 0, three 4-byte words of options
        BinaryPrimitives.WriteUInt16BigEndian(geneve.AsSpan(2), 0x6558);
        geneve[4] = (byte)(Vni >> 16);
        geneve[5] = unchecked((byte)(Vni >> 8));
        geneve[6] = unchecked((byte)Vni);
        BinaryPrimitives.WriteUInt16BigEndian(geneve.AsSpan(8), 0xFFF0);
        geneve[10] = type;
        geneve[11] = 2;
        if (frontend is not null)
        {
            frontend.Address.GetAddressBytes().CopyTo(geneve, 12);
            BinaryPrimitives.WriteUInt16BigEndian(geneve.AsSpan(16), frontend.Port);
        }
        geneve[18] = protocol;
        var udp = new UdpDatagram { SourcePort = sourcePort, DestinationPort = Port, Payload = [.. geneve, .. innerFrame], WithoutChecksum = true };
        var ip = new Ipv4Header { Source = from, Destination = to, Protocol = IpProtocol.Udp, Identification = 0, TimeToLive = 64, DontFragment = true };
        return outerEthernet.Build(ip.Build(udp.Build(from, to)));
    }

    /// <summary>The outer UDP source port of an encapsulated frame (hashed from the inner flow by the sender).</summary>
    public static ushort SourcePort(byte[] frame) => BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(EthernetHeader.Length + 20));
}
