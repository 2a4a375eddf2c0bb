using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Tests.Packets;
using static ProxyReplacement.Dataplane.Tests.Golden.Topology;

namespace ProxyReplacement.Dataplane.Tests.Golden;

/// <summary>
/// pr_svc_cidr4: TCP/UDP to an address inside a Service CIDR that no frontend claims (a deleted
/// Service, a port the Service does not have) is rejected like a Service without backends;
/// outside the CIDRs it passes untouched. Also the TCP port-reuse rule of conntrack.
/// </summary>
[TestFixture(DataplaneVariant.Fast), TestFixture(DataplaneVariant.Compat), Category("Privileged")]
public sealed class ServiceCidrGoldenTests(DataplaneVariant variant)
{
    private GoldenDataplane _dp = null!;

    [OneTimeSetUp] public void LoadDataplane() => _dp = GoldenDataplane.Load(variant);
    [OneTimeTearDown] public void Unload() => _dp?.Dispose();

    [SetUp]
    public void Reset()
    {
        _dp.Reset();
        _dp.Dataplane.ServiceCidrs.Update(new ServiceCidrKey4(IPAddress.Parse("10.96.0.0"), 12), default);
    }

    [Test]
    public void TcpToAnUnclaimedServiceAddressGetsRstFromThatAddress()
    {
        var deleted = Endpoint.Of("10.96.7.7", 443);

        var result = _dp.Run(Frames.Tcp(Client, deleted, TcpFlags.Syn, sequence: 500));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Redirect));
        var ip = FrameView.Parse(result.Output).Ip;
        Assert.Multiple(() =>
        {
            Assert.That(ip.Source, Is.EqualTo(deleted.Address));
            Assert.That(ip.Destination, Is.EqualTo(Client.Address));
            Assert.That(ip.Tcp.SourcePort, Is.EqualTo(deleted.Port));
            Assert.That(ip.Tcp.DestinationPort, Is.EqualTo(Client.Port));
            Assert.That(ip.Tcp.Flags, Is.EqualTo(TcpFlags.Rst | TcpFlags.Ack));
            Assert.That(ip.Tcp.Acknowledgment, Is.EqualTo(501u));
            Assert.That(ChecksumAudit.Problems(result.Output), Is.Empty);
        });
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.RejectUnknownService, 1));
    }

    [Test]
    public void UdpToAServicePortThatDoesNotExistGetsPortUnreachable()
    {
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);
        var wrongPort = new Endpoint(TcpVip.Address, 9999);

        var result = _dp.Run(Frames.Udp(Client, wrongPort, "query"u8.ToArray()));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Redirect));
        var ip = FrameView.Parse(result.Output).Ip;
        Assert.Multiple(() =>
        {
            Assert.That(ip.Protocol, Is.EqualTo(IpProtocol.Icmp));
            Assert.That(ip.Icmp.Type, Is.EqualTo((byte)3));
            Assert.That(ip.Icmp.Code, Is.EqualTo((byte)3));
            Assert.That(ChecksumAudit.Problems(result.Output), Is.Empty);
        });
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.RejectUnknownService, 1));
    }

    [Test]
    public void OutsideTheServiceCidrsTrafficPassesUntouched()
    {
        // 10.96.0.0/12 spans 10.96.0.0 - 10.111.255.255
        var frame = Frames.Tcp(Client, Endpoint.Of("10.112.0.1", 80), TcpFlags.Syn);

        var result = _dp.Run(frame);

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output, frame);
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.PassNoService, 1));
    }

    [Test]
    public void NewSynOnAClosedFlowIsBalancedAgainToTheCurrentBackend()
    {
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);
        _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Syn));
        _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Rst | TcpFlags.Ack, sequence: 1001));
        var forward = new ConntrackKey4(Client.Address, Client.Port, TcpVip.Address, TcpVip.Port, L4Protocol.Tcp);
        Assert.That(_dp.ConntrackEntry(forward).TcpState, Is.EqualTo(ConntrackTcpState.Closed));

        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendB]); // the backend set moved meanwhile
        var result = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Syn, sequence: 90000));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        Assert.That(FrameView.Parse(result.Output).Ip.Destination, Is.EqualTo(BackendB.Address));
        Assert.That(_dp.ConntrackEntry(forward).TcpState, Is.EqualTo(ConntrackTcpState.SynSent));
        Assert.That(_dp.Counter(CounterReason.ConntrackExpired), Is.EqualTo(1ul));
    }
}
