using System.Net;
using System.Net.NetworkInformation;
using ProxyReplacement.Bench.Workload;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Programs;
using ProxyReplacement.Dataplane.Tests.Packets;

namespace ProxyReplacement.Bench.Suites.Packet;

/// <summary>
/// The frames of the host-interface packet benchmark for one cluster size, as they reach the node: from clients outside
/// the node to <see cref="NodeAddress"/>:nodePort at ingress of a host data interface (<c>pr_tc_from_host</c>), and the
/// backends' replies at ingress of their veth (<c>pr_tc_from_wl</c>). Every frame targets a NodePort Service chosen at
/// random among all of them. New-flow SYNs are distinct 5-tuples whose conntrack pairs <see cref="ForgetNewFlows"/>
/// removes between pool rounds; established and reply frames belong to <see cref="FlowCount"/> NodePort flows opened by
/// <see cref="EstablishFlows"/> (the SYN through pr_tc_from_host, the backend's SYN-ACK through pr_tc_from_wl);
/// pass-through frames are segments of the node's own SSH sessions (<see cref="NodeAddress"/>:22).
/// </summary>
public sealed class HostPacketCases
{
    public const int NewFlowPool = 16_384;
    public const int FlowCount = 4_096;

    /// <summary>The node address NodePorts are served on (the one <c>NodeTopology.AddExternalClient</c> gives the node).</summary>
    public static readonly IPAddress NodeAddress = IPAddress.Parse("192.168.77.1");

    /// <summary>The node's own service that is no Service of the cluster: SSH.</summary>
    public const ushort NodeOwnPort = 22;

    private static readonly PhysicalAddress RouterMac = PhysicalAddress.Parse("02-00-00-00-77-fe");
    private static readonly PhysicalAddress NodeMac = PhysicalAddress.Parse("02-00-00-00-77-01");
    private static readonly PhysicalAddress PodMac = PhysicalAddress.Parse("02-00-0a-c9-02-02");
    private static readonly byte[] Request = "GET / HTTP/1.1\r\n\r\n"u8.ToArray();

    private readonly ConntrackKey4[] _newFlowKeys;
    private readonly byte[][] _established = new byte[FlowCount][];
    private readonly byte[][] _replies = new byte[FlowCount][];

    /// <param name="nodePorts">The NodePort Services (Services 0 .. nodePorts-1 of <see cref="SyntheticServices"/>).</param>
    public HostPacketCases(int nodePorts, int seed = 12)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nodePorts, 1);
        var random = new Random(seed);
        NewFlows = new byte[NewFlowPool][];
        _newFlowKeys = new ConntrackKey4[NewFlowPool];
        for (var k = 0; k < NewFlowPool; k++)
        {
            // (client, port) distinct per k: 250 clients × 66 ports, outside every cluster network
            var client = Address(198, 18, 1, 2 + k % 250);
            var port = (ushort)(1024 + k / 250);
            var nodePort = (ushort)SyntheticServices.NodePortOf(random.Next(nodePorts));
            NewFlows[k] = Frame(RouterMac, NodeMac, client, port, NodeAddress, nodePort, TcpFlags.Syn, []);
            _newFlowKeys[k] = new ConntrackKey4(client, port, NodeAddress, nodePort, L4Protocol.Tcp);
        }

        FlowKeys = new ConntrackKey4[FlowCount];
        Syns = new byte[FlowCount][];
        for (var f = 0; f < FlowCount; f++)
        {
            var client = Address(198, 19, 1 + f / 250, 2 + f % 250);
            var port = (ushort)(40_000 + f);
            var nodePort = (ushort)SyntheticServices.NodePortOf(random.Next(nodePorts));
            FlowKeys[f] = new ConntrackKey4(client, port, NodeAddress, nodePort, L4Protocol.Tcp);
            Syns[f] = Frame(RouterMac, NodeMac, client, port, NodeAddress, nodePort, TcpFlags.Syn, []);
            _established[f] = Frame(RouterMac, NodeMac, client, port, NodeAddress, nodePort, TcpFlags.Ack | TcpFlags.Psh, Request);
        }

        PassThrough = new byte[NewFlowPool][];
        for (var k = 0; k < NewFlowPool; k++)
        {
            // segments of SSH sessions to the node itself: no conntrack entry, no frontend, not in a Service CIDR
            var client = Address(198, 18, 2 + random.Next(200), 2 + random.Next(250));
            PassThrough[k] = Frame(RouterMac, NodeMac, client, (ushort)(1024 + k), NodeAddress, NodeOwnPort, TcpFlags.Ack | TcpFlags.Psh, Request);
        }
    }

    /// <summary>SYNs of new flows to nodeIP:nodePort, for pr_tc_from_host.</summary>
    public byte[][] NewFlows { get; }

    /// <summary>Segments to nodeIP:22, for pr_tc_from_host (and the empty program).</summary>
    public byte[][] PassThrough { get; }

    public ConntrackKey4[] FlowKeys { get; }
    public byte[][] Syns { get; }

    /// <summary>Client segments of established NodePort flows, for pr_tc_from_host.</summary>
    public IReadOnlyList<byte[]> Established => _established;

    /// <summary>The backends' segments of the same flows, for pr_tc_from_wl at the backend's veth.</summary>
    public IReadOnlyList<byte[]> Replies => _replies;

    /// <summary>
    /// Opens the <see cref="FlowCount"/> NodePort flows: the SYN through pr_tc_from_host (DNAT to a backend it picks), then
    /// the backend's SYN-ACK through pr_tc_from_wl (reverse NAT to nodeIP:nodePort, routed by the program), and builds
    /// each flow's reply frame. Returns the SYN-ACKs' verdict (all must agree): TC_ACT_REDIRECT when the FIB of the
    /// calling thread's namespace answered, TC_ACT_OK when it left the reply to the kernel.
    /// </summary>
    public int EstablishFlows(CoreDataplane dataplane)
    {
        int? replyVerdict = null;
        for (var f = 0; f < FlowCount; f++)
        {
            var syn = ProgramTiming.Run(dataplane.FromHost, Syns[f]);
            if (syn.ReturnValue != 0)
                throw new InvalidOperationException($"SYN of NodePort flow {FlowKeys[f]}: pr_tc_from_host returned {syn.ReturnValue}, not TC_ACT_OK");
            if (!dataplane.Conntrack.TryLookup(FlowKeys[f], out var forward) || forward.Type != ConntrackType.Forward)
                throw new InvalidOperationException($"no forward conntrack entry after the SYN of {FlowKeys[f]}");
            var backend = Ipv4.FromNbo(forward.NatAddressNbo);
            var backendPort = Ipv4.PortFromNbo(forward.NatPortNbo);
            var client = FlowKeys[f].Source;
            var clientPort = FlowKeys[f].SourcePort;
            var synAck = ProgramTiming.Run(dataplane.FromWorkload,
                Frame(PodMac, NodeMac, backend, backendPort, client, clientPort, TcpFlags.Syn | TcpFlags.Ack, []));
            if (replyVerdict is { } expected && synAck.ReturnValue != expected)
                throw new InvalidOperationException($"SYN-ACK of {FlowKeys[f]}: verdict {synAck.ReturnValue}, the earlier ones {expected}");
            replyVerdict = synAck.ReturnValue;
            _replies[f] = Frame(PodMac, NodeMac, backend, backendPort, client, clientPort, TcpFlags.Ack | TcpFlags.Psh, Request);
        }
        return replyVerdict!.Value;
    }

    /// <summary>Removes the conntrack pairs the new-flow frames created (untimed, between pool rounds).</summary>
    public void ForgetNewFlows(CoreDataplane dataplane)
    {
        var forward = new List<ConntrackKey4>(NewFlowPool);
        var reverse = new List<ConntrackKey4>(NewFlowPool);
        foreach (var key in _newFlowKeys)
        {
            if (!dataplane.Conntrack.TryLookup(key, out var value))
                continue;
            forward.Add(key);
            reverse.Add(new ConntrackKey4(Ipv4.FromNbo(value.NatAddressNbo), Ipv4.PortFromNbo(value.NatPortNbo), key.Source, key.SourcePort, L4Protocol.Tcp));
        }
        dataplane.Conntrack.DeleteBatch(reverse.ToArray());
        dataplane.Conntrack.DeleteBatch(forward.ToArray());
    }

    private static IPAddress Address(int a, int b, int c, int d) => new([(byte)a, (byte)b, (byte)c, (byte)d]);

    private static byte[] Frame(PhysicalAddress sourceMac, PhysicalAddress destinationMac, IPAddress source, ushort sourcePort,
        IPAddress destination, ushort destinationPort, TcpFlags flags, byte[] payload)
    {
        var segment = new TcpSegment
        {
            SourcePort = sourcePort, DestinationPort = destinationPort, Sequence = 1000, Acknowledgment = flags.HasFlag(TcpFlags.Ack) ? 5000u : 0,
            Flags = flags, Payload = payload,
        };
        var ip = new Ipv4Header { Source = source, Destination = destination, Protocol = IpProtocol.Tcp };
        return new EthernetHeader(destinationMac, sourceMac, EtherType.Ipv4).Build(ip.Build(segment.Build(source, destination)));
    }
}
