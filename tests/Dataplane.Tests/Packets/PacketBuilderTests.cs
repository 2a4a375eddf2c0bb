using System.Net;
using System.Net.NetworkInformation;

namespace ProxyReplacement.Dataplane.Tests.Packets;

public sealed class PacketBuilderTests
{
    private static readonly PhysicalAddress MacA = PhysicalAddress.Parse("02-00-00-00-00-0a");
    private static readonly PhysicalAddress MacB = PhysicalAddress.Parse("02-00-00-00-00-0b");
    private static readonly IPAddress Client = IPAddress.Parse("10.244.1.5");
    private static readonly IPAddress Server = IPAddress.Parse("10.96.0.20");

    private static byte[] Frame(Ipv4Header ip, byte[] l4) =>
        new EthernetHeader(MacB, MacA, EtherType.Ipv4).Build(ip.Build(l4));

    [Test]
    public void TcpRoundTrip()
    {
        var tcp = new TcpSegment
        {
            SourcePort = 40000, DestinationPort = 8080, Sequence = 0x01020304, Acknowledgment = 0xa0b0c0d0,
            Flags = TcpFlags.Psh | TcpFlags.Ack, Window = 512, UrgentPointer = 7,
            Options = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], // NOP NOP timestamps
            Payload = "GET /"u8.ToArray(),
        };
        var ip = new Ipv4Header { Source = Client, Destination = Server, Protocol = IpProtocol.Tcp, TypeOfService = 0x10, Identification = 0xabcd, TimeToLive = 63 };
        var frame = Frame(ip, tcp.Build(Client, Server));

        var view = FrameView.Parse(frame);
        var ipv = view.Ip;
        var tcpv = ipv.Tcp;
        Assert.Multiple(() =>
        {
            Assert.That(frame, Has.Length.EqualTo(14 + 20 + 32 + 5));
            Assert.That(view.Destination, Is.EqualTo(MacB));
            Assert.That(view.Source, Is.EqualTo(MacA));
            Assert.That(view.EtherType, Is.EqualTo(EtherType.Ipv4));
            Assert.That(ipv.Version, Is.EqualTo(4));
            Assert.That(ipv.HeaderLength, Is.EqualTo(20));
            Assert.That(ipv.TypeOfService, Is.EqualTo(0x10));
            Assert.That(ipv.TotalLength, Is.EqualTo(57));
            Assert.That(ipv.Identification, Is.EqualTo(0xabcd));
            Assert.That(ipv.DontFragment, Is.True);
            Assert.That(ipv.MoreFragments, Is.False);
            Assert.That(ipv.FragmentOffset, Is.Zero);
            Assert.That(ipv.TimeToLive, Is.EqualTo(63));
            Assert.That(ipv.Protocol, Is.EqualTo(IpProtocol.Tcp));
            Assert.That(ipv.Source, Is.EqualTo(Client));
            Assert.That(ipv.Destination, Is.EqualTo(Server));
            Assert.That(ipv.HeaderChecksumValid, Is.True);
            Assert.That(ipv.L4ChecksumValid, Is.True);
            Assert.That(tcpv.SourcePort, Is.EqualTo(40000));
            Assert.That(tcpv.DestinationPort, Is.EqualTo(8080));
            Assert.That(tcpv.Sequence, Is.EqualTo(0x01020304u));
            Assert.That(tcpv.Acknowledgment, Is.EqualTo(0xa0b0c0d0u));
            Assert.That(tcpv.HeaderLength, Is.EqualTo(32));
            Assert.That(tcpv.Flags, Is.EqualTo(TcpFlags.Psh | TcpFlags.Ack));
            Assert.That(tcpv.Window, Is.EqualTo(512));
            Assert.That(tcpv.UrgentPointer, Is.EqualTo(7));
            Assert.That(tcpv.Options.ToArray(), Is.EqualTo(tcp.Options));
            Assert.That(tcpv.Payload.ToArray(), Is.EqualTo(tcp.Payload));
            Assert.That(ChecksumAudit.Problems(frame), Is.Empty);
        });
    }

    [Test]
    public void Ipv4HeaderBytesAreLaidOutAsRfc791()
    {
        var ip = new Ipv4Header
        {
            Source = IPAddress.Parse("192.168.0.1"), Destination = IPAddress.Parse("192.168.0.199"), Protocol = IpProtocol.Udp,
            Identification = 0, TimeToLive = 64, DontFragment = true,
        };
        // The RFC 1071-checked header of ChecksumTests with 0x5f bytes of payload: total length 0x73.
        var packet = ip.Build(new byte[0x73 - 20]);
        Assert.That(Convert.ToHexString(packet.AsSpan(0, 20)), Is.EqualTo("45000073000040004011B861C0A80001C0A800C7"));
    }

    [Test]
    public void Ipv4OptionsAndFragmentFields()
    {
        var ip = new Ipv4Header
        {
            Source = Client, Destination = Server, Protocol = IpProtocol.Udp, DontFragment = false, MoreFragments = true,
            FragmentOffset = 185, Options = [0x94, 0x04, 0x00, 0x00], // router alert
        };
        var view = new Ipv4View(ip.Build([9, 9, 9, 9]));
        Assert.Multiple(() =>
        {
            Assert.That(view.HeaderLength, Is.EqualTo(24));
            Assert.That(view.Options.ToArray(), Is.EqualTo(new byte[] { 0x94, 0x04, 0x00, 0x00 }));
            Assert.That(view.FlagsAndFragmentOffset, Is.EqualTo(0x2000 | 185));
            Assert.That(view.MoreFragments, Is.True);
            Assert.That(view.DontFragment, Is.False);
            Assert.That(view.FragmentOffset, Is.EqualTo(185));
            Assert.That(view.Payload.ToArray(), Is.EqualTo(new byte[] { 9, 9, 9, 9 }));
            Assert.That(view.HeaderChecksumValid, Is.True);
        });
    }

    [Test]
    public void UdpRoundTrip()
    {
        var udp = new UdpDatagram { SourcePort = 5353, DestinationPort = 53, Payload = [0xde, 0xad, 0xbe] };
        var frame = Frame(new Ipv4Header { Source = Client, Destination = Server, Protocol = IpProtocol.Udp }, udp.Build(Client, Server));
        var view = FrameView.Parse(frame).Ip.Udp;
        Assert.Multiple(() =>
        {
            Assert.That(view.SourcePort, Is.EqualTo(5353));
            Assert.That(view.DestinationPort, Is.EqualTo(53));
            Assert.That(view.Length, Is.EqualTo(11));
            Assert.That(view.Checksum, Is.Not.Zero);
            Assert.That(view.Payload.ToArray(), Is.EqualTo(udp.Payload));
            Assert.That(ChecksumAudit.Problems(frame), Is.Empty);
        });
    }

    [Test]
    public void UdpWithoutChecksumCarriesZero()
    {
        var datagram = new UdpDatagram { SourcePort = 1, DestinationPort = 2, WithoutChecksum = true }.Build(Client, Server);
        Assert.That(new UdpView(datagram).Checksum, Is.Zero);
    }

    [Test]
    public void IcmpEchoRoundTrip()
    {
        var frame = Frame(new Ipv4Header { Source = Client, Destination = Server, Protocol = IpProtocol.Icmp },
            IcmpMessage.Echo(0x1234, 7, "ping"u8.ToArray()).Build());
        var icmp = FrameView.Parse(frame).Ip.Icmp;
        Assert.Multiple(() =>
        {
            Assert.That(icmp.Type, Is.EqualTo(IcmpMessage.EchoRequest));
            Assert.That(icmp.Code, Is.Zero);
            Assert.That(icmp.RestOfHeader, Is.EqualTo(0x12340007u));
            Assert.That(icmp.Body.ToArray(), Is.EqualTo("ping"u8.ToArray()));
            Assert.That(icmp.IsError, Is.False);
            Assert.That(ChecksumAudit.Problems(frame), Is.Empty);
        });
    }

    [Test]
    public void IcmpPortUnreachableQuotesTheOriginalHeaderAndEightBytes()
    {
        var original = new Ipv4Header { Source = Client, Destination = Server, Protocol = IpProtocol.Udp }
            .Build(new UdpDatagram { SourcePort = 40001, DestinationPort = 53, Payload = new byte[30] }.Build(Client, Server));
        var error = IcmpMessage.PortUnreachable(original);
        var frame = Frame(new Ipv4Header { Source = Server, Destination = Client, Protocol = IpProtocol.Icmp }, error.Build());

        var icmp = FrameView.Parse(frame).Ip.Icmp;
        var quoted = icmp.Quoted;
        Assert.Multiple(() =>
        {
            Assert.That(icmp.Type, Is.EqualTo(3));
            Assert.That(icmp.Code, Is.EqualTo(3));
            Assert.That(icmp.RestOfHeader, Is.Zero);
            Assert.That(icmp.Body.ToArray(), Is.EqualTo(original[..28]));
            Assert.That(quoted.IsComplete, Is.False);
            Assert.That(quoted.Source, Is.EqualTo(Client));
            Assert.That(quoted.Udp.SourcePort, Is.EqualTo(40001));
            Assert.That(quoted.Udp.DestinationPort, Is.EqualTo(53));
            Assert.That(ChecksumAudit.Problems(frame), Is.Empty);
        });
    }

    [Test]
    public void ArpRequestLayout()
    {
        var frame = new EthernetHeader(PhysicalAddress.Parse("FF-FF-FF-FF-FF-FF"), MacA, EtherType.Arp)
            .Build(ArpPacket.Request(MacA, Client, Server));
        Assert.That(Convert.ToHexString(frame),
            Is.EqualTo("FFFFFFFFFFFF02000000000A0806" + "0001080006040001" + "02000000000A0AF40105" + "000000000000" + "0A600014"));
    }

    [Test]
    public void TcpSequenceLengthCountsSynAndFin()
    {
        var segment = new TcpSegment { SourcePort = 1, DestinationPort = 2, Flags = TcpFlags.Syn | TcpFlags.Fin, Payload = new byte[10] };
        Assert.That(segment.SequenceLength, Is.EqualTo(12u));
    }
}
