namespace ProxyReplacement.Dataplane.Tests.Packets;

/// <summary>IANA protocol numbers and EtherTypes the packet tests use.</summary>
public static class IpProtocol
{
    public const byte Icmp = 1;
    public const byte Tcp = 6;
    public const byte Udp = 17;
    public const byte Sctp = 132;
}

public static class EtherType
{
    public const ushort Ipv4 = 0x0800;
    public const ushort Arp = 0x0806;
    public const ushort Ipv6 = 0x86DD;
}
