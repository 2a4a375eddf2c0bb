using System.Net;
using System.Text;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Cli;

namespace ProxyReplacement.ServiceProxy.Tests.Cli;

/// <summary>What `dump` says about the external service modes: pr_config's settings, a frontend's mode, conntrack entries.</summary>
public sealed class ExternalTrafficDumpTests
{
    private static string Text(DataplaneConfig? config)
    {
        var text = new StringBuilder();
        ExternalTrafficDump.AppendText(text, ExternalTrafficDump.Read(config));
        return text.ToString();
    }

    [Test]
    public void The_settings_as_the_daemon_writes_them()
    {
        var config = DataplaneConfig.Default.WithMultiNode(
            new MultiNodeConfig(ExternalServiceMode.Dsr, IPAddress.Parse("192.168.1.10"), 6082, 1438, 0x5052, 20000, 29999));

        Assert.That(Text(config), Is.EqualTo("""

            EXTERNAL TRAFFIC TO OTHER NODES (mode dsr; a Service's annotation wins, shown as mode= on its frontends)
              node address 192.168.1.10 (SNAT source, tunnel source)
              Geneve UDP 6082, VNI 0x5052 (20562), tunnel MTU 1438 (TCP MSS clamped to 1398); SNAT ports 20000-29999

            """.ReplaceLineEndings("\n")));
    }

    [Test]
    public void Zero_fields_are_shown_with_the_dataplanes_defaults_and_said_so()
    {
        var settings = ExternalTrafficDump.Read(DataplaneConfig.Default)!;

        Assert.Multiple(() =>
        {
            Assert.That((settings.Mode, settings.NodeAddress, settings.TunnelPort, settings.TunnelMtu, settings.SnatPortMin, settings.SnatPortMax),
                Is.EqualTo(("tunnel", (string?)null, 6082, 1438, 20000, 29999)));
            Assert.That(Text(DataplaneConfig.Default), Does.Contain("node address: none: a backend on another node is reached as on one node")
                .And.Contain("(unset, the dataplane's defaults: tunnel port, VNI, tunnel MTU, SNAT port min, SNAT port max)"));
            Assert.That(Text(null), Does.Contain("pr_config unwritten: tunnel mode, no node address"));
        });
    }

    [Test]
    public void Each_zero_field_gets_its_default_alone_as_pr_tunnel_config_does()
    {
        var config = DataplaneConfig.Default.WithMultiNode(new MultiNodeConfig(ExternalServiceMode.Tunnel, null, 7000, 0, 0, 40000, 0));

        var settings = ExternalTrafficDump.Read(config)!;

        Assert.Multiple(() =>
        {
            Assert.That((settings.TunnelPort, settings.TunnelVni, settings.TunnelMtu, settings.TcpMss), Is.EqualTo((7000, 0x5052u, 1438, 1398)));
            Assert.That((settings.SnatPortMin, settings.SnatPortMax), Is.EqualTo((40000, 40000)), "a maximum below the minimum is the minimum");
            Assert.That(settings.Defaulted, Is.EqualTo(new[] { "VNI", "tunnel MTU", "SNAT port max" }));
        });
    }

    [TestCase(FrontendFlags.None, null)]
    [TestCase(FrontendFlags.ModeSnat | FrontendFlags.SourceRanges, "snat")]
    [TestCase(FrontendFlags.ModeTunnel, "tunnel")]
    [TestCase(FrontendFlags.ModeDsr | FrontendFlags.ExternalLocal, "dsr")]
    public void A_frontends_mode_is_its_mode_flag(FrontendFlags flags, string? mode) =>
        Assert.That(ExternalTrafficDump.FrontendMode(new NatFrontendValue(1, 1, flags)), Is.EqualTo(mode));

    [TestCase(ConntrackType.Forward, "forward")]
    [TestCase(ConntrackType.Reverse, "reverse")]
    [TestCase(ConntrackType.TunnelReturn, "tunnel-return")]
    [TestCase((ConntrackType)9, "type-9")]
    public void Conntrack_types_by_name(ConntrackType type, string name) => Assert.That(ExternalTrafficDump.TypeName(type), Is.EqualTo(name));

    [Test]
    public void Conntrack_flags_by_name_unknown_bits_in_hex() =>
        Assert.That(ExternalTrafficDump.FlagNames(ConntrackFlags.LocalVip | ConntrackFlags.Snat | (ConntrackFlags)0x80),
            Is.EqualTo(new[] { "local-vip", "snat", "0x80" }));

    private static ConntrackValue4 Entry(ConntrackType type, ConntrackFlags flags, string? peer = null, ushort peerPort = 0, string? tunnel = null) =>
        new(1, 1, type, ConntrackTcpState.Established, 0, (byte)flags, 7, IPAddress.Parse("10.244.2.7"), 8080,
            peer is null ? null : IPAddress.Parse(peer), peerPort, tunnel is null ? null : IPAddress.Parse(tunnel));

    [TestCase(ConntrackType.Forward, ConntrackFlags.None, null, null, "")]
    [TestCase(ConntrackType.Forward, ConntrackFlags.LocalVip | ConntrackFlags.Snat, "192.168.1.10", null, "local-vip,snat  snat-source 192.168.1.10:20001")]
    [TestCase(ConntrackType.Reverse, ConntrackFlags.LocalVip | ConntrackFlags.Snat, "203.0.113.9", null, "local-vip,snat  client 203.0.113.9:20001")]
    [TestCase(ConntrackType.Forward, ConntrackFlags.Tunnel, null, "192.168.1.20", "tunnel  tunnel-peer 192.168.1.20")]
    [TestCase(ConntrackType.Reverse, ConntrackFlags.Dsr, null, "192.168.1.10", "dsr  tunnel-peer 192.168.1.10")]
    [TestCase(ConntrackType.TunnelReturn, ConntrackFlags.None, null, "192.168.1.10", "tunnel-peer 192.168.1.10")]
    public void A_conntrack_row_ends_with_its_flags_and_peers(ConntrackType type, ConntrackFlags flags, string? peer, string? tunnel, string expected) =>
        Assert.That(ExternalTrafficDump.Extra(Entry(type, flags, peer, peer is null ? (ushort)0 : (ushort)20001, tunnel)), Is.EqualTo(expected));
}
