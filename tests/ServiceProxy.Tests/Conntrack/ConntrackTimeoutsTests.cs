using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Conntrack;

namespace ProxyReplacement.ServiceProxy.Tests.Conntrack;

/// <summary>The sweeper's expiry rule against pr_conntrack.h's pr_ct_timeout_ns and pr_ct_age, case by case.</summary>
public sealed class ConntrackTimeoutsTests
{
    private const ulong S = ConntrackTimeouts.NsPerSecond;
    private const byte Tcp = (byte)L4Protocol.Tcp, Udp = (byte)L4Protocol.Udp, Sctp = (byte)L4Protocol.Sctp;

    private static readonly ConntrackTimeouts Timeouts = new()
    {
        TcpSyn = TimeSpan.FromSeconds(5), TcpEstablished = TimeSpan.FromSeconds(100), TcpClosing = TimeSpan.FromSeconds(7),
        Udp = TimeSpan.FromSeconds(30), Generic = TimeSpan.FromSeconds(50),
    };

    [TestCase(Tcp, ConntrackTcpState.SynSent, 5ul)]
    [TestCase(Tcp, ConntrackTcpState.Established, 100ul)]
    [TestCase(Tcp, ConntrackTcpState.Closing, 100ul, Description = "half closed: the established timeout, as pr_ct_timeout_ns")]
    [TestCase(Tcp, ConntrackTcpState.Closed, 7ul)]
    [TestCase(Tcp, ConntrackTcpState.None, 100ul, Description = "TCP picked up without a state")]
    [TestCase(Udp, ConntrackTcpState.None, 30ul)]
    [TestCase(Udp, ConntrackTcpState.Closed, 30ul, Description = "the TCP state means nothing for UDP")]
    [TestCase(Sctp, ConntrackTcpState.None, 50ul)]
    [TestCase((byte)47, ConntrackTcpState.None, 50ul)]
    public void Timeout_per_protocol_and_state(byte protocol, ConntrackTcpState state, ulong seconds) =>
        Assert.That(Timeouts.TimeoutNs(protocol, state), Is.EqualTo(seconds * S));

    // now - last_seen > timeout, and now > last_seen (a last_seen ahead of now is alive)
    [TestCase(1000ul, 1000ul + 30 * S, false, Description = "exactly the timeout: alive")]
    [TestCase(1000ul, 1000ul + 30 * S + 1, true, Description = "one ns past: expired")]
    [TestCase(1000ul, 1000ul, false)]
    [TestCase(5000ul, 1000ul, false, Description = "last_seen ahead of now (another CPU just touched it)")]
    [TestCase(0ul, 30 * S + 1, true)]
    public void Udp_expiry_boundaries(ulong lastSeen, ulong now, bool expired) =>
        Assert.That(Timeouts.IsExpired(Udp, Entry(lastSeen, ConntrackTcpState.None), now), Is.EqualTo(expired));

    [Test]
    public void A_closed_tcp_flow_expires_long_before_an_established_one()
    {
        var now = 1000 * S;
        var idle = now - 8 * S;
        Assert.Multiple(() =>
        {
            Assert.That(Timeouts.IsExpired(Tcp, Entry(idle, ConntrackTcpState.Closed), now), Is.True);
            Assert.That(Timeouts.IsExpired(Tcp, Entry(idle, ConntrackTcpState.Established), now), Is.False);
            Assert.That(Timeouts.IsExpired(Tcp, Entry(idle, ConntrackTcpState.SynSent), now), Is.True);
        });
    }

    [Test]
    public void Applied_to_the_config_it_keeps_the_socket_mode_and_reads_back_the_same()
    {
        var multiNode = new MultiNodeConfig(ExternalServiceMode.Dsr, IPAddress.Parse("192.168.1.10"), 6082, 1438, 0x5052, 20000, 29999);
        var config = new DataplaneConfig(1, 2, 3, 4, 5, SocketLbMode.Enabled).WithHairpinAddress(IPAddress.Parse("169.254.9.9")).WithMultiNode(multiNode);
        var applied = Timeouts.ApplyTo(config);
        Assert.Multiple(() =>
        {
            Assert.That(applied.SocketLbMode, Is.EqualTo(SocketLbMode.Enabled));
            Assert.That(applied.HairpinAddress, Is.EqualTo(IPAddress.Parse("169.254.9.9")), "another writer's field is kept");
            Assert.That(applied.MultiNode, Is.EqualTo(multiNode), "the many-node fields are kept");
            Assert.That(applied.AbiVersion, Is.EqualTo(DataplaneConfig.CurrentAbiVersion));
            Assert.That((applied.TcpSynTimeoutSeconds, applied.TcpEstablishedTimeoutSeconds, applied.TcpClosingTimeoutSeconds,
                applied.UdpTimeoutSeconds, applied.GenericTimeoutSeconds), Is.EqualTo((5u, 100u, 7u, 30u, 50u)));
            Assert.That(ConntrackTimeouts.FromConfig(applied), Is.EqualTo(Timeouts));
        });
    }

    [Test]
    public void A_zero_config_field_means_the_dataplane_default()
    {
        var fromZero = ConntrackTimeouts.FromConfig(default);
        Assert.Multiple(() =>
        {
            Assert.That(fromZero.TcpSyn, Is.EqualTo(TimeSpan.FromSeconds(60)));
            Assert.That(fromZero.TcpEstablished, Is.EqualTo(TimeSpan.FromSeconds(21600)));
            Assert.That(fromZero.TcpClosing, Is.EqualTo(TimeSpan.FromSeconds(10)));
            Assert.That(fromZero.Udp, Is.EqualTo(TimeSpan.FromSeconds(60)));
            Assert.That(fromZero.Generic, Is.EqualTo(TimeSpan.FromSeconds(60)));
        });
    }

    [Test]
    public void The_defaults_are_the_documented_ones()
    {
        var defaults = new ConntrackTimeouts().ApplyTo(default);
        Assert.That((defaults.TcpSynTimeoutSeconds, defaults.TcpEstablishedTimeoutSeconds, defaults.TcpClosingTimeoutSeconds,
            defaults.UdpTimeoutSeconds, defaults.GenericTimeoutSeconds), Is.EqualTo((60u, 86400u, 10u, 60u, 600u)));
    }

    internal static ConntrackValue4 Entry(ulong lastSeen, ConntrackTcpState state, ConntrackType type = ConntrackType.Forward,
        string nat = "10.244.2.7", ushort natPort = 8080) =>
        new(lastSeen, lastSeen, type, state, 0, 0, 7, IPAddress.Parse(nat), natPort);
}
