using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.Tc;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tests.Support;
using TcApi = ProxyReplacement.Dataplane.Tc.Tc;

namespace ProxyReplacement.Dataplane.Tests.Tc;

/// <summary>
/// Real traffic through a ClusterIP: a client pod connects to the VIP, pr_tc_from_wl on the node side
/// of the client's veth DNATs to the backend pod, and on the node side of the backend's veth turns the
/// replies back into VIP replies. No SNAT: the backend sees the client's own address.
/// </summary>
[TestFixture(DataplaneVariant.Fast)]
[TestFixture(DataplaneVariant.Compat)]
[Category("Privileged")]
public sealed class ServiceNatTrafficTests(DataplaneVariant variant)
{
    private static readonly IPAddress Vip = IPAddress.Parse("10.96.0.10");
    private const ushort TcpServicePort = 80;
    private const ushort UdpServicePort = 53;
    private const ushort BackendPort = 8080;
    private const uint TcpServiceId = 1;
    private const uint UdpServiceId = 2;

    private NodeTopology _topology = null!;
    private CoreDataplane _dataplane = null!;
    private readonly List<TcAttachment> _attachments = [];

    private PodInterface Client => _topology.Client;
    private PodInterface Backend => _topology.Backends[0];

    [SetUp]
    public void SetUp()
    {
        Privileged.Require();
        _dataplane = TestVariants.LoadCore(variant); // first: a skip or failure here must not leave a topology behind
        _topology = NodeTopology.Create(backendCount: 1);
        _dataplane.WriteConfig(DataplaneConfig.Default);

        _dataplane.Backends.Update(new NatBackendKey(TcpServiceId, 0), new NatBackendValue4(Backend.Address, BackendPort));
        _dataplane.Frontends.Update(new NatFrontendKey4(Vip, TcpServicePort, L4Protocol.Tcp), new NatFrontendValue(TcpServiceId, backendCount: 1));
        _dataplane.Backends.Update(new NatBackendKey(UdpServiceId, 0), new NatBackendValue4(Backend.Address, BackendPort));
        _dataplane.Frontends.Update(new NatFrontendKey4(Vip, UdpServicePort, L4Protocol.Udp), new NatFrontendValue(UdpServiceId, backendCount: 1));

        // Client side: forward DNAT. Backend side: reverse NAT of the replies.
        _attachments.AddRange(NetworkNamespace.Run(_topology.NodeNamespace, () => new[]
        {
            TcApi.Attach(Client.HostIfIndex, TcDirection.Ingress, _dataplane.FromWorkload),
            TcApi.Attach(Backend.HostIfIndex, TcDirection.Ingress, _dataplane.FromWorkload),
        }));
    }

    [TearDown]
    public void TearDown()
    {
        foreach (var attachment in _attachments)
            attachment.Dispose();
        _attachments.Clear();
        _dataplane?.Dispose();
        _topology?.Dispose();
    }

    [Test]
    public async Task Tcp_to_the_vip_reaches_the_backend_and_replies_come_from_the_vip()
    {
        using var server = TcpEchoServer.Start(Backend.Namespace, new IPEndPoint(Backend.Address, BackendPort));

        using var client = await ConnectOrExplainAsync(new IPEndPoint(Vip, TcpServicePort));
        var echoed = await NetnsSockets.SendLineAndReadEchoAsync(client, "hello through the VIP");
        var clientEndPoint = (IPEndPoint)client.LocalEndPoint!;

        Assert.Multiple(() =>
        {
            Assert.That(echoed, Is.EqualTo("hello through the VIP"));
            Assert.That(client.RemoteEndPoint, Is.EqualTo(new IPEndPoint(Vip, TcpServicePort)));
            Assert.That(clientEndPoint.Address, Is.EqualTo(Client.Address));
            Assert.That(server.Peers, Is.EqualTo(new[] { new IPEndPoint(Client.Address, clientEndPoint.Port) }), "no SNAT: the backend sees the client");
        });

        var forwardKey = new ConntrackKey4(Client.Address, (ushort)clientEndPoint.Port, Vip, TcpServicePort, L4Protocol.Tcp);
        Assert.That(_dataplane.Conntrack.TryLookup(forwardKey, out var forward), Is.True, $"no forward entry {forwardKey}; {Diagnostics()}");
        Assert.Multiple(() =>
        {
            Assert.That(forward.Type, Is.EqualTo(ConntrackType.Forward));
            Assert.That(forward.NatAddress, Is.EqualTo(Backend.Address));
            Assert.That(forward.NatPort, Is.EqualTo(BackendPort));
            Assert.That(forward.ServiceId, Is.EqualTo(TcpServiceId));
            Assert.That(forward.TcpState, Is.EqualTo(ConntrackTcpState.Established), "the backend's ACK moved it past SynSent");

            var counters = _dataplane.ReadCounters();
            Assert.That(counters.GetValueOrDefault(CounterReason.NatNewFlow), Is.GreaterThanOrEqualTo(1UL), Diagnostics());
            Assert.That(counters.GetValueOrDefault(CounterReason.NatReverse), Is.GreaterThanOrEqualTo(1UL), Diagnostics());
            Assert.That(counters.GetValueOrDefault(CounterReason.NatEstablished), Is.GreaterThanOrEqualTo(1UL), Diagnostics());
        });

        var reverseKey = new ConntrackKey4(Backend.Address, BackendPort, Client.Address, (ushort)clientEndPoint.Port, L4Protocol.Tcp);
        Assert.That(_dataplane.Conntrack.TryLookup(reverseKey, out var reverse), Is.True, $"no reverse entry {reverseKey}");
        Assert.Multiple(() =>
        {
            Assert.That(reverse.Type, Is.EqualTo(ConntrackType.Reverse));
            Assert.That(reverse.NatAddress, Is.EqualTo(Vip));
            Assert.That(reverse.NatPort, Is.EqualTo(TcpServicePort));
        });
    }

    [Test]
    public async Task Udp_to_the_vip_is_answered_from_the_vip()
    {
        using var server = UdpEchoServer.Start(Backend.Namespace, new IPEndPoint(Backend.Address, BackendPort));
        using var client = NetnsSockets.CreateUdp(Client.Namespace);

        // Unconnected on purpose: the kernel then delivers a reply from any source, so the sender
        // address below is what the reverse NAT made of it, not a filter's doing.
        (string Payload, IPEndPoint From) reply;
        try
        {
            reply = await NetnsSockets.UdpRoundTripAsync(client, new IPEndPoint(Vip, UdpServicePort), "datagram via the VIP", TimeSpan.FromSeconds(5));
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"no UDP reply within 5 s; server saw {string.Join(", ", server.Peers)}; {Diagnostics()}");
            throw;
        }
        var clientPort = (ushort)((IPEndPoint)client.LocalEndPoint!).Port;

        Assert.Multiple(() =>
        {
            Assert.That(reply.Payload, Is.EqualTo("datagram via the VIP"));
            Assert.That(reply.From, Is.EqualTo(new IPEndPoint(Vip, UdpServicePort)), Diagnostics());
            Assert.That(server.Peers, Is.EqualTo(new[] { new IPEndPoint(Client.Address, clientPort) }));
        });

        var forwardKey = new ConntrackKey4(Client.Address, clientPort, Vip, UdpServicePort, L4Protocol.Udp);
        Assert.That(_dataplane.Conntrack.TryLookup(forwardKey, out var forward), Is.True, $"no forward entry {forwardKey}");
        Assert.Multiple(() =>
        {
            Assert.That(forward.NatAddress, Is.EqualTo(Backend.Address));
            Assert.That(forward.NatPort, Is.EqualTo(BackendPort));
            Assert.That(forward.ServiceId, Is.EqualTo(UdpServiceId));
        });
    }

    /// <summary>
    /// A pod's sockets hand their veth CHECKSUM_PARTIAL skbs: the TCP/UDP checksum field holds only the
    /// pseudo-header sum, and whoever transmits the packet completes it over the segment. On a veth nobody
    /// ever does (the receiving pod trusts a partial checksum), so the other traffic tests cannot see a wrong
    /// sum. With tx checksum offload off on the node side of both pod veths, the node completes every NATed
    /// packet in software from what pr_tc_from_wl left in the field, and the pods verify it: the new address
    /// must be in the pseudo-header sum and the new port must not, or the packets are dropped as corrupt.
    /// The large line goes out as GSO segments, which the node then cuts from the same field.
    /// </summary>
    [Test]
    public async Task Nat_of_offloaded_packets_leaves_checksums_the_node_can_complete()
    {
        foreach (var pod in new[] { Client, Backend })
            IpCommand.InNamespace(_topology.NodeNamespace, "ethtool", "-K", pod.HostInterface, "tx", "off");
        using var tcpServer = TcpEchoServer.Start(Backend.Namespace, new IPEndPoint(Backend.Address, BackendPort));
        using var udpServer = UdpEchoServer.Start(Backend.Namespace, new IPEndPoint(Backend.Address, BackendPort));

        using var tcp = await ConnectOrExplainAsync(new IPEndPoint(Vip, TcpServicePort));
        var large = new string('x', 256 * 1024);
        var shortEcho = await NetnsSockets.SendLineAndReadEchoAsync(tcp, "partial checksum");
        var largeEcho = await NetnsSockets.SendLineAndReadEchoAsync(tcp, large);
        using var udp = NetnsSockets.CreateUdp(Client.Namespace);
        var udpReply = await NetnsSockets.UdpRoundTripAsync(udp, new IPEndPoint(Vip, UdpServicePort), "partial checksum", TimeSpan.FromSeconds(5));

        Assert.Multiple(() =>
        {
            Assert.That(shortEcho, Is.EqualTo("partial checksum"));
            Assert.That(largeEcho, Is.EqualTo(large), "the GSO-sized line came back whole");
            Assert.That(udpReply, Is.EqualTo(("partial checksum", new IPEndPoint(Vip, UdpServicePort))));
            foreach (var pod in new[] { Client, Backend })
                foreach (var (counter, value) in ChecksumErrors(pod.Namespace))
                    Assert.That(value, Is.Zero, $"{counter} in {pod.Namespace}");
        });
    }

    /// <summary>The kernel's count of received TCP and UDP packets with a bad checksum in a namespace (/proc/net/snmp).</summary>
    private static IEnumerable<(string Counter, long Value)> ChecksumErrors(string netns)
    {
        var lines = IpCommand.InNamespace(netns, "cat", "/proc/net/snmp").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // pairs of lines: "Tcp: Name1 Name2 ..." then "Tcp: 1 2 ..."
        for (var i = 0; i + 1 < lines.Length; i += 2)
        {
            var names = lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var values = lines[i + 1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (names[0] is not ("Tcp:" or "Udp:"))
                continue;
            var column = Array.IndexOf(names, "InCsumErrors");
            Assert.That(column, Is.GreaterThan(0), $"no InCsumErrors in {netns}'s {names[0]} line");
            yield return ($"{names[0]} InCsumErrors", long.Parse(values[column], System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    private async Task<System.Net.Sockets.Socket> ConnectOrExplainAsync(IPEndPoint remote)
    {
        try
        {
            return await NetnsSockets.ConnectTcpAsync(Client.Namespace, remote, TimeSpan.FromSeconds(5));
        }
        catch (Exception e) when (e is OperationCanceledException or System.Net.Sockets.SocketException)
        {
            Assert.Fail($"connect to {remote} from {Client.Namespace} failed ({e.GetType().Name}: {e.Message}); {Diagnostics()}");
            throw;
        }
    }

    /// <summary>The dataplane's view, for failure messages: non-zero counters and the conntrack table.</summary>
    private string Diagnostics()
    {
        var counters = _dataplane.ReadCounters().Where(c => c.Value != 0).Select(c => $"{c.Key}={c.Value}");
        var conntrack = _dataplane.Conntrack.ReadAll().Select(e => $"{e.Key} => {e.Value.Type} {e.Value.NatAddress}:{e.Value.NatPort} {e.Value.TcpState}");
        return $"counters [{string.Join(", ", counters)}]; conntrack [{string.Join("; ", conntrack)}]";
    }
}
