using System.Net;

namespace ProxyReplacement.Dataplane.Tests.Packets;

public sealed class ChecksumTests
{
    [Test]
    public void Rfc1071NumericalExample()
    {
        // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 2ddf0, folded ddf2; the checksum is ~ddf2.
        byte[] data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        Assert.Multiple(() =>
        {
            Assert.That(Checksum.Accumulate(0, data), Is.EqualTo(0x2ddf0u));
            Assert.That(Checksum.Fold(0x2ddf0), Is.EqualTo((ushort)0xddf2));
            Assert.That(Checksum.Compute(data), Is.EqualTo((ushort)0x220d));
        });
    }

    [Test]
    public void OddLengthPadsTheLastByteWithZero()
    {
        // 2ddf0 + ab00 = 388f0 -> 88f3 -> ~ = 770c
        byte[] data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7, 0xab];
        Assert.That(Checksum.Compute(data), Is.EqualTo((ushort)0x770c));
    }

    [Test]
    public void HandCheckedIpv4Header()
    {
        // 4500 0073 0000 4000 4011 [b861] c0a8 0001 c0a8 00c7: the sum of the other words is 0x2479c,
        // folded 0x479e, complemented 0xb861.
        byte[] header = Convert.FromHexString("450000730000400040110000c0a80001c0a800c7");
        Assert.That(Checksum.Compute(header), Is.EqualTo((ushort)0xb861));
        header[10] = 0xb8;
        header[11] = 0x61;
        Assert.That(Checksum.Verifies(header), Is.True);
        header[15] ^= 0x01;
        Assert.That(Checksum.Verifies(header), Is.False);
    }

    [Test]
    public void HandCheckedUdpWithPseudoHeader()
    {
        // pseudo 0a00+0001+0a00+0002+0011+000a = 141e; header 04d2+0035+000a+0000 = 0511; "hi" = 6869;
        // 141e + 0511 + 6869 = 8198 -> ~ = 7e67
        byte[] udp = [0x04, 0xd2, 0x00, 0x35, 0x00, 0x0a, 0x00, 0x00, (byte)'h', (byte)'i'];
        var checksum = Checksum.ComputeL4(IPAddress.Parse("10.0.0.1"), IPAddress.Parse("10.0.0.2"), IpProtocol.Udp, udp);
        Assert.That(checksum, Is.EqualTo((ushort)0x7e67));
    }

    [Test]
    public void HandCheckedTcpSynWithPseudoHeader()
    {
        // pseudo c000+0201+c633+6402+0006+0014 = 1ec50; header 9c40+0050+0001+5002+7210 = 15ea3;
        // 1ec50 + 15ea3 = 34af3 -> 4af6 -> ~ = b509
        var segment = Convert.FromHexString("9c40005000000001000000005002721000000000");
        var checksum = Checksum.ComputeL4(IPAddress.Parse("192.0.2.1"), IPAddress.Parse("198.51.100.2"), IpProtocol.Tcp, segment);
        Assert.That(checksum, Is.EqualTo((ushort)0xb509));
    }

    [Test]
    public void BuiltSegmentVerifiesAndAnyFlippedBitBreaksIt()
    {
        var source = IPAddress.Parse("10.1.2.3");
        var destination = IPAddress.Parse("10.96.0.10");
        var segment = new TcpSegment { SourcePort = 33333, DestinationPort = 443, Sequence = 0xdeadbeef, Flags = TcpFlags.Syn, Payload = [1, 2, 3] }
            .Build(source, destination);
        Assert.That(Checksum.VerifiesL4(source, destination, IpProtocol.Tcp, segment), Is.True);
        for (var bit = 0; bit < segment.Length * 8; bit++)
        {
            var copy = (byte[])segment.Clone();
            copy[bit / 8] ^= (byte)(1 << bit % 8);
            Assert.That(Checksum.VerifiesL4(source, destination, IpProtocol.Tcp, copy), Is.False, $"bit {bit}");
        }
        Assert.That(Checksum.VerifiesL4(IPAddress.Parse("10.1.2.4"), destination, IpProtocol.Tcp, segment), Is.False,
            "the pseudo-header covers the addresses");
    }
}
