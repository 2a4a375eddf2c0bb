using System.Buffers.Binary;
using System.Net;
using System.Net.NetworkInformation;

namespace ProxyReplacement.Dataplane.Tests.Packets;

/// <summary>An ARP request for IPv4 over Ethernet (RFC 826): the 28-byte payload of an EtherType 0x0806 frame.</summary>
public static class ArpPacket
{
    public static byte[] Request(PhysicalAddress senderMac, IPAddress senderIp, IPAddress targetIp)
    {
        var arp = new byte[28];
        var span = arp.AsSpan();
        BinaryPrimitives.WriteUInt16BigEndian(span[0..], 1);              // hardware type: Ethernet
        BinaryPrimitives.WriteUInt16BigEndian(span[2..], EtherType.Ipv4); // protocol type
        span[4] = 6;                                                       // hardware address length
        span[5] = 4;                                                       // protocol address length
        BinaryPrimitives.WriteUInt16BigEndian(span[6..], 1);              // operation: request
        senderMac.GetAddressBytes().CopyTo(span[8..14]);
        Checksum.WriteIpv4(span[14..18], senderIp);
        // target hardware address [18..24) stays zero: unknown, that is the question
        Checksum.WriteIpv4(span[24..28], targetIp);
        return arp;
    }
}
