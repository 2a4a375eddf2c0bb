using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.Tc;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tests.Packets;
using ProxyReplacement.Dataplane.Tests.Support;
using TcApi = ProxyReplacement.Dataplane.Tc.Tc;

namespace ProxyReplacement.Dataplane.Tests.Tc;

/// <summary>
/// Packets whose headers are not in the skb's linear part (bpf-c/include/pr_parse.h, pr_pull). BPF_PROG_TEST_RUN
/// cannot make such a packet for a TC program: it copies the test data into one linear buffer, at most a page
/// (frags via data_size_in beyond a page exist only for XDP programs), so the golden suite only ever sees linear
/// headers. Here the client pod sends a 4 KiB UDP datagram to the VIP through an AF_PACKET socket with a
/// virtio-net header (Netns/packet_send.py): the kernel keeps only its Ethernet header linear and puts the IP and
/// UDP headers in page fragments, as a NIC's page-based receive path or GRO can. A test-only probe in front of
/// pr_tc_from_wl (bpf-c/test/linearity_probe.bpf.c) records that the NAT really got it so; the backend must
/// receive it DNATed with a valid checksum, and its echo must come back from the VIP.
/// </summary>
[TestFixture(DataplaneVariant.Fast)]
[TestFixture(DataplaneVariant.Compat)]
[Category("Privileged")]
public sealed class NonLinearTrafficTests(DataplaneVariant variant)
{
    private static readonly IPAddress Vip = IPAddress.Parse("10.96.0.53");
    private const ushort ServicePort = 53;
    private const ushort BackendPort = 5353;
    private const ushort ClientPort = 40053;
    private const int PayloadLength = 4200;
    private const int Mtu = 9000;

    private CoreDataplane? _core;
    private NodeTopology? _topology;
    private LoadedBpfObject? _probe;
    private readonly List<TcAttachment> _attachments = [];
    private UdpEchoServer? _server;
    private Socket? _socket;

    [SetUp]
    public void SetUp()
    {
        _core = TestVariants.LoadCore(variant);
        _probe = BpfObjectLoader.Load(new BpfObjectSpec(TestObjects.Read("linearity_probe.bpf.o"), "linearity_probe",
            new Dictionary<string, uint>(), PinRoot: null));
        _topology = NodeTopology.Create(backendCount: 1);
    }

    [TearDown]
    public void TearDown()
    {
        _socket?.Dispose();
        _server?.Dispose();
        foreach (var attachment in _attachments)
            attachment.Dispose();
        _attachments.Clear();
        _topology?.Dispose();
        _probe?.Dispose();
        _core?.Dispose();
    }

    /// <summary>
    /// MTU 9000 on the pod veths, the UDP Service, the probe in front of the NAT on both pod veths, the backend's echo
    /// server, and the client's socket on ClientPort.
    /// </summary>
    private (PodInterface Client, PodInterface Backend, Socket Socket, UdpEchoServer Server) Wire()
    {
        var topology = _topology!;
        var core = _core!;
        var client = topology.Client;
        var backend = topology.Backends[0];
        foreach (var pod in new[] { client, backend })
        {
            IpCommand.InNamespace(pod.Namespace, "ip", "link", "set", "dev", "eth0", "mtu", $"{Mtu}");
            IpCommand.InNamespace(topology.NodeNamespace, "ip", "link", "set", "dev", pod.HostInterface, "mtu", $"{Mtu}");
        }
        core.Backends.Update(new NatBackendKey(1, 0), new NatBackendValue4(backend.Address, BackendPort));
        core.Frontends.Update(new NatFrontendKey4(Vip, ServicePort, L4Protocol.Udp), new NatFrontendValue(1, backendCount: 1));
        var probe = _probe!.Program("pr_test_linearity");
        // the probe first (priority 1) passes every packet on (TC_ACT_UNSPEC) to the NAT (priority 2)
        _attachments.AddRange(NetworkNamespace.Run(topology.NodeNamespace, () => new[] { client, backend }.SelectMany(pod => new[]
        {
            TcApi.Attach(pod.HostIfIndex, TcDirection.Ingress, probe, priority: 1),
            TcApi.Attach(pod.HostIfIndex, TcDirection.Ingress, core.FromWorkload, priority: 2),
        }).ToList()));
        _server = UdpEchoServer.Start(backend.Namespace, new IPEndPoint(backend.Address, BackendPort));
        _socket = NetnsSockets.CreateUdp(client.Namespace);
        _socket.Bind(new IPEndPoint(client.Address, ClientPort));
        return (client, backend, _socket, _server);
    }

    [Test]
    public async Task A_datagram_whose_headers_are_in_page_fragments_is_natted_both_ways()
    {
        var (client, _, receiver, server) = Wire();

        var payload = Enumerable.Range(0, PayloadLength).Select(i => (byte)('a' + i % 26)).ToArray();
        var sent = SendNonLinear(client, _topology!.NodeNamespace, Ip(client.Address, Vip, IpProtocol.Udp,
            new UdpDatagram { SourcePort = ClientPort, DestinationPort = ServicePort, Payload = payload }.Build(client.Address, Vip)));
        var buffer = new byte[64 * 1024];
        SocketReceiveFromResult reply;
        using (var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            try
            {
                reply = await receiver.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), deadline.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"no echo within 5 s; sent {sent} bytes; {DescribeLinearity()}; {Diagnostics()}");
                throw;
            }
        }

        TestContext.Out.WriteLine(DescribeLinearity());
        Assert.Multiple(() =>
        {
            AssertTheNatGotANonLinearPacket();
            Assert.That(server.Peers, Is.EqualTo(new[] { new IPEndPoint(client.Address, ClientPort) }), "DNATed, and its checksum valid at the backend");
            Assert.That(buffer.AsSpan(0, reply.ReceivedBytes).ToArray(), Is.EqualTo(payload));
            Assert.That(reply.RemoteEndPoint, Is.EqualTo(new IPEndPoint(Vip, ServicePort)), "the echo comes from the VIP");
            Assert.That(Count(CounterReason.NatNewFlow), Is.EqualTo(1UL), Diagnostics());
            Assert.That(Count(CounterReason.NatReverse), Is.EqualTo(1UL), Diagnostics());
            Assert.That(Count(CounterReason.DropMalformed) + Count(CounterReason.DropPullFailed), Is.Zero, Diagnostics());
        });
    }

    /// <summary>
    /// The other place that reads deep into a packet: an ICMP error about a NATed flow, whose quote must be
    /// rewritten to the VIP (pr_icmp_quote_linear). The backend sends a port unreachable quoting a large datagram
    /// of the client's flow, non-linear; the client's connected socket must see it as its own (ECONNREFUSED),
    /// which it only does when the quote names the VIP it is connected to.
    /// </summary>
    [Test]
    public async Task An_icmp_error_whose_quote_is_in_page_fragments_is_translated_to_the_vip()
    {
        var (client, backend, socket, _) = Wire();
        await socket.ConnectAsync(new IPEndPoint(Vip, ServicePort));
        var echo = await NetnsSockets.UdpRoundTripAsync(socket, new IPEndPoint(Vip, ServicePort), "open the flow", TimeSpan.FromSeconds(5));

        // what the backend saw of a (large) datagram of this flow, quoted whole as Linux quotes what fits
        var delivered = Ip(client.Address, backend.Address, IpProtocol.Udp, new UdpDatagram
        {
            SourcePort = ClientPort, DestinationPort = BackendPort, Payload = new byte[PayloadLength],
        }.Build(client.Address, backend.Address));
        var error = IcmpMessage.PortUnreachable(delivered, payloadBytes: delivered.Length).Build();
        SendNonLinear(backend, _topology!.NodeNamespace, Ip(backend.Address, client.Address, IpProtocol.Icmp, error));

        string outcome;
        using (var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            try
            {
                await socket.ReceiveAsync(new byte[2048], SocketFlags.None, deadline.Token);
                outcome = "a datagram";
            }
            catch (SocketException e)
            {
                outcome = e.SocketErrorCode.ToString();
            }
            catch (OperationCanceledException)
            {
                outcome = "nothing within 5 s";
            }
        }

        TestContext.Out.WriteLine(DescribeLinearity());
        Assert.Multiple(() =>
        {
            Assert.That(echo, Is.EqualTo(("open the flow", new IPEndPoint(Vip, ServicePort))));
            AssertTheNatGotANonLinearPacket();
            Assert.That(outcome, Is.EqualTo(nameof(SocketError.ConnectionRefused)), $"the client's socket got the error; {Diagnostics()}");
            Assert.That(Count(CounterReason.IcmpErrorTranslated), Is.EqualTo(1UL), Diagnostics());
            Assert.That(Count(CounterReason.DropMalformed) + Count(CounterReason.DropPullFailed) + Count(CounterReason.DropNatFailed),
                Is.Zero, Diagnostics());
        });
    }

    private static byte[] Ip(IPAddress source, IPAddress destination, byte protocol, byte[] payload) =>
        new Ipv4Header { Source = source, Destination = destination, Protocol = protocol }.Build(payload);

    /// <summary>Sends <paramref name="ipPacket"/> from <paramref name="pod"/>'s eth0 to the node, with only its Ethernet header linear.</summary>
    private static int SendNonLinear(PodInterface pod, string nodeNamespace, byte[] ipPacket)
    {
        var frame = new EthernetHeader(Mac(nodeNamespace, pod.HostInterface), Mac(pod.Namespace, "eth0"), EtherType.Ipv4).Build(ipPacket);
        Assert.That(frame, Has.Length.GreaterThan(4096), "smaller frames are sent linear");
        var sent = int.Parse(IpCommand.InNamespace(pod.Namespace, "python3", PacketSender, "eth0", Convert.ToHexString(frame)).Trim(),
            System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(sent, Is.EqualTo(frame.Length), "packet_send.py sent the whole frame");
        return sent;
    }

    private void AssertTheNatGotANonLinearPacket()
    {
        var seen = ReadLinearity();
        Assert.That(seen.Packets, Is.GreaterThanOrEqualTo(1u), DescribeLinearity());
        Assert.That(seen.MinLinear, Is.LessThan(EthernetHeader.Length + Ipv4Header.MinimumLength),
            "the premise: the NAT got the packet with its IP header outside the linear part; " + DescribeLinearity());
    }

    private ulong Count(CounterReason reason) => _core!.ReadCounters().GetValueOrDefault(reason);

    private static string PacketSender => Path.Combine(AppContext.BaseDirectory, "packet_send.py");

    private static PhysicalAddress Mac(string netns, string device) =>
        PhysicalAddress.Parse(IpCommand.InNamespace(netns, "cat", $"/sys/class/net/{device}/address").Trim().Replace(':', '-').ToUpperInvariant());

    private Linearity ReadLinearity()
    {
        using var map = new BpfMap<uint, Linearity>("pr_linearity", _probe!.DuplicateMapFd("pr_linearity"));
        return map.TryLookup(0, out var seen) ? seen : default;
    }

    private string DescribeLinearity()
    {
        var seen = ReadLinearity();
        return $"probe: {seen.Packets} large packets, smallest linear part {seen.MinLinear} bytes, last length {seen.LastLength}";
    }

    private string Diagnostics() =>
        "counters: " + string.Join(", ", _core!.ReadCounters().Where(c => c.Value != 0).Select(c => $"{c.Key}={c.Value}"));

    /// <summary>struct pr_linearity of bpf-c/test/linearity_probe.bpf.c.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private readonly record struct Linearity(uint Packets, uint MinLinear, uint LastLength, uint Pad);
}
