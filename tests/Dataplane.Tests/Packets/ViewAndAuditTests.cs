using System.Net;

namespace ProxyReplacement.Dataplane.Tests.Packets;

public sealed class ViewAndAuditTests
{
    private static readonly IPAddress Client = IPAddress.Parse("10.244.1.5");
    private static readonly IPAddress Backend = IPAddress.Parse("10.244.2.9");

    private static byte[] UdpPacket(int payloadLength) =>
        new Ipv4Header { Source = Client, Destination = Backend, Protocol = IpProtocol.Udp }
            .Build(new UdpDatagram { SourcePort = 40001, DestinationPort = 5353, Payload = new byte[payloadLength] }.Build(Client, Backend));

    private static byte[] PortUnreachableFrame(byte[] quoted, int quotedPayloadBytes) =>
        new EthernetHeader(System.Net.NetworkInformation.PhysicalAddress.Parse("02-00-00-00-00-01"),
                System.Net.NetworkInformation.PhysicalAddress.Parse("02-00-00-00-00-02"), EtherType.Ipv4)
            .Build(new Ipv4Header { Source = Backend, Destination = Client, Protocol = IpProtocol.Icmp }
                .Build(IcmpMessage.PortUnreachable(quoted, quotedPayloadBytes).Build()));

    [TestCase(14 + 11, "IPv4 header checksum")] // outer IPv4 checksum low byte
    [TestCase(14 + 20 + 2, "L4")]               // ICMP checksum
    [TestCase(14 + 20 + 8 + 10, "quoted IPv4 header")] // quoted IPv4 checksum
    [TestCase(14 + 20 + 8 + 20 + 6, "quoted/IPv4 header")] // quoted UDP checksum: the ICMP sum breaks too
    public void AuditFindsEveryBrokenChecksumLayer(int offset, string layer)
    {
        // Quote the complete datagram so that even the quoted UDP checksum is checkable.
        var frame = PortUnreachableFrame(UdpPacket(4), quotedPayloadBytes: 12);
        Assert.That(ChecksumAudit.Problems(frame), Is.Empty);
        frame[offset] ^= 0x40;
        Assert.That(ChecksumAudit.Problems(frame), Is.Not.Empty, layer);
    }

    [Test]
    public void AuditChecksQuotedL4OnlyWhenComplete()
    {
        var complete = PortUnreachableFrame(UdpPacket(4), quotedPayloadBytes: 12);
        // Break the quoted UDP checksum, then repair the ICMP checksum so only the quoted UDP sum is wrong.
        complete[14 + 20 + 8 + 20 + 6] ^= 0x01;
        RepairIcmpChecksum(complete);
        Assert.That(ChecksumAudit.Problems(complete), Is.EqualTo(new[] { "outer/quoted L4 (protocol 17) checksum does not verify" }));

        var truncated = PortUnreachableFrame(UdpPacket(40), quotedPayloadBytes: 8);
        truncated[14 + 20 + 8 + 20 + 6] ^= 0x01;
        RepairIcmpChecksum(truncated);
        Assert.That(ChecksumAudit.Problems(truncated), Is.Empty, "a cut-short quote cannot be checked");
    }

    [Test]
    public void ViewsRejectTruncatedHeaders()
    {
        var packet = UdpPacket(0);
        Assert.Multiple(() =>
        {
            Assert.Throws<FormatException>(() => FrameView.Parse(new byte[13]));
            Assert.Throws<FormatException>(() => _ = new Ipv4View(packet.AsMemory(0, 19)));
            Assert.Throws<FormatException>(() => _ = new Ipv4View(packet.AsMemory(0, 20)).Udp.Length); // 0 bytes of UDP
            Assert.Throws<FormatException>(() => _ = new TcpView(new byte[19]));
            Assert.Throws<FormatException>(() => _ = new IcmpView(new byte[7]));
            Assert.Throws<FormatException>(() => _ = new Ipv4View(packet).Tcp);
        });
    }

    [Test]
    public void HexDifferencePointsAtTheFirstDifferentByte()
    {
        Assert.That(Hex.Difference([1, 2, 3], [1, 2, 3]), Is.Null);
        Assert.That(Hex.Difference([1, 2, 3], [1, 9, 3]), Does.StartWith("frames differ first at offset 1 "));
    }

    private static void RepairIcmpChecksum(byte[] frame)
    {
        var icmp = frame.AsSpan(14 + 20);
        icmp[2] = 0;
        icmp[3] = 0;
        var checksum = Checksum.Compute(icmp);
        icmp[2] = (byte)(checksum >> 8);
        icmp[3] = (byte)checksum;
    }
}
