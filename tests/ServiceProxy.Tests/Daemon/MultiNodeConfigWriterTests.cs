using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Options;

namespace ProxyReplacement.ServiceProxy.Tests.Daemon;

/// <summary>pr_config's many-node fields: which node address, which MTU, and that they are written only when they change.</summary>
public sealed class MultiNodeConfigWriterTests
{
    private static readonly InterfacePatterns HostPatterns = InterfacePatterns.Parse("eth*,ens*");

    private static Node NodeWith(params (NodeAddressType Type, string Ip)[] addresses) =>
        new("node-a", addresses.Select(a => new NodeAddress(a.Type, a.Ip, IPAddress.Parse(a.Ip))).ToEquatableList(), null);

    private static IPAddress[] Ips(params string[] ips) => ips.Select(IPAddress.Parse).ToArray();

    private static InterfaceAddress[] Host(params (string Interface, string Ip)[] addresses) =>
        addresses.Select(a => new InterfaceAddress(a.Interface, IPAddress.Parse(a.Ip))).ToArray();

    [Test]
    public void The_node_address_is_the_first_ipv4_internal_ip()
    {
        var node = NodeWith((NodeAddressType.ExternalIP, "203.0.113.5"), (NodeAddressType.InternalIP, "fd00::5"), (NodeAddressType.InternalIP, "192.168.1.10"),
            (NodeAddressType.InternalIP, "192.168.1.11"));

        var (address, from) = MultiNodeConfigWriter.NodeAddress(node, [], HostPatterns, Ips("192.168.1.10", "192.168.1.11", "203.0.113.5"));

        Assert.That((address, from), Is.EqualTo((IPAddress.Parse("192.168.1.10"), "Node node-a InternalIP")));
    }

    [Test]
    public void Without_an_internal_ip_the_first_node_port_address_on_a_host_interface()
    {
        // The sorted NodePort addresses put docker0's 172.17.0.1 first; the tunnel must leave from eth0's address.
        var host = Host(("docker0", "172.17.0.1"), ("eth0", "192.168.1.10"), ("lo", "127.0.0.1"));

        var (address, from) = MultiNodeConfigWriter.NodeAddress(null, host, HostPatterns, Ips("172.17.0.1", "192.168.1.10"));

        Assert.That((address, from), Is.EqualTo((IPAddress.Parse("192.168.1.10"), "NodePort address of eth0")));
    }

    [Test]
    public void Then_the_first_node_port_address_then_none()
    {
        var fromNode = NodeWith((NodeAddressType.ExternalIP, "203.0.113.5")); // a Node with only an ExternalIP: it is the NodePort address

        Assert.Multiple(() =>
        {
            Assert.That(MultiNodeConfigWriter.NodeAddress(fromNode, [], HostPatterns, Ips("fd00::1", "203.0.113.5")),
                Is.EqualTo(((IPAddress?)IPAddress.Parse("203.0.113.5"), "first NodePort address")));
            Assert.That(MultiNodeConfigWriter.NodeAddress(null, [], HostPatterns, Ips("fd00::1")), Is.EqualTo(((IPAddress?)null, "no IPv4 node address")));
        });
    }

    [Test]
    public void An_explicit_tunnel_mtu_is_written_as_given() =>
        Assert.That(MultiNodeConfigWriter.TunnelMtu(1400, [("eth0", 9000)]), Is.EqualTo(((ushort)1400, "--tunnel-mtu")));

    [Test]
    public void Auto_is_the_smallest_host_interface_mtu_minus_62()
    {
        Assert.Multiple(() =>
        {
            Assert.That(MultiNodeConfigWriter.TunnelMtu(0, [("eth1", 9000), ("eth0", 1500), ("ens3", 1450)]), Is.EqualTo(((ushort)1388, "ens3 1450 - 62")));
            Assert.That(MultiNodeConfigWriter.TunnelMtu(0, [("eth0", 9001)]), Is.EqualTo(((ushort)8939, "eth0 9001 - 62")));
            Assert.That(MultiNodeConfigWriter.TunnelMtu(0, [("eth0", 65536)]).Mtu, Is.EqualTo(ExternalTrafficOptions.MaxTunnelMtu), "an IPv4 packet is at most 65535");
            Assert.That(MultiNodeConfigWriter.TunnelMtu(0, []), Is.EqualTo(((ushort)1438, "no host interface: 1500 - 62")));
        });
    }

    [Test]
    public void The_interface_mtus_come_from_sysfs() =>
        Assert.That(MultiNodeConfigWriter.InterfaceMtus(), Has.Some.Matches<(string Name, int Mtu)>(i => i.Name == "lo" && i.Mtu > 0));

    [Test]
    public void Every_field_is_written_explicitly()
    {
        var options = new ExternalTrafficOptions { Mode = ExternalServiceMode.Dsr, TunnelPort = 7000, TunnelVni = 77, SnatPorts = new PortRange(40000, 40100) };

        var config = MultiNodeConfigWriter.Compute(options, IPAddress.Parse("192.168.1.10"), 1388);

        Assert.That(config, Is.EqualTo(new MultiNodeConfig(ExternalServiceMode.Dsr, IPAddress.Parse("192.168.1.10"), 7000, 1388, 77, 40000, 40100)));
    }

    [Test]
    public void Writes_the_fields_into_pr_config_keeping_the_rest_and_again_only_on_a_change()
    {
        var stored = DataplaneConfig.Default.WithSocketLbMode(SocketLbMode.Tcp);
        var writes = 0;
        var mtus = new List<(string, int)> { ("eth0", 1500), ("veth1", 1400) };
        var writer = new MultiNodeConfigWriter(new ExternalTrafficOptions(), HostPatterns, () => stored, config => { stored = config; writes++; },
            NullLogger.Instance, () => mtus);
        var node = NodeWith((NodeAddressType.InternalIP, "192.168.1.10"));

        var first = writer.Update(node, [], Ips("192.168.1.10"));
        var again = writer.Update(node, [], Ips("192.168.1.10"));
        mtus[0] = ("eth0", 1450); // the underlay's MTU lowered
        var lowered = writer.Update(node, [], Ips("192.168.1.10"));
        var moved = writer.Update(NodeWith((NodeAddressType.InternalIP, "192.168.1.20")), [], Ips("192.168.1.20"));

        Assert.Multiple(() =>
        {
            Assert.That((first, again, lowered, moved, writes), Is.EqualTo((true, false, true, true, 3)));
            Assert.That(stored.MultiNode, Is.EqualTo(new MultiNodeConfig(ExternalServiceMode.Tunnel, IPAddress.Parse("192.168.1.20"), 6082, 1388, 0x5052, 20000, 29999)));
            Assert.That(stored.SocketLbMode, Is.EqualTo(SocketLbMode.Tcp), "the rest of pr_config is kept");
            Assert.That(stored.TcpEstablishedTimeoutSeconds, Is.EqualTo(DataplaneConfig.Default.TcpEstablishedTimeoutSeconds));
        });
    }

    [Test]
    public void A_failed_write_is_tried_again_at_the_next_poll()
    {
        var stored = DataplaneConfig.Default;
        var fail = true;
        var writer = new MultiNodeConfigWriter(new ExternalTrafficOptions(), HostPatterns, () => stored,
            config => stored = fail ? throw new BpfException("pr_config update failed", Errno.EPERM) : config, NullLogger.Instance, () => []);

        var failed = writer.Update(null, [], Ips("192.168.1.10"));
        fail = false;
        var retried = writer.Update(null, [], Ips("192.168.1.10"));

        Assert.That((failed, retried, stored.MultiNode.NodeAddress), Is.EqualTo((false, true, IPAddress.Parse("192.168.1.10"))));
    }
}
