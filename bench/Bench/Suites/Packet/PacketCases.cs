using System.Net;
using System.Net.NetworkInformation;
using ProxyReplacement.Bench.Workload;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Programs;
using ProxyReplacement.Dataplane.Tests.Packets;

namespace ProxyReplacement.Bench.Suites.Packet;

/// <summary>The packet cases of the per-packet benchmark, each labelled by the verdict counter it must move.</summary>
public enum PacketCase
{
    /// <summary>pr_tc_pass on the pass-through frames: the floor every case is compared with.</summary>
    Empty,
    /// <summary>SYN of a new flow to a Service: frontend + backend lookup, conntrack pair created, DNAT.</summary>
    NewFlow,
    /// <summary>A packet of an established flow: conntrack hit, DNAT.</summary>
    Established,
    /// <summary>A backend's reply: reverse conntrack hit, source rewritten back to VIP:port.</summary>
    Reply,
    /// <summary>TCP between pods, no Service: conntrack miss, frontend miss, CIDR miss, passed untouched.</summary>
    PassThrough,
}

/// <summary>
/// The frames of one cluster size, as a pod would send them into its veth. Every frame targets a Service
/// chosen at random among all of them, so the map lookups touch as many buckets as the cluster has Services
/// (one hot Service would make every size look the same from L1). New-flow frames are distinct 5-tuples;
/// after the pool is used up, <see cref="ForgetNewFlows"/> removes the conntrack pairs they created, so every
/// new-flow run really creates a pair and the table never fills. Established and reply frames belong to
/// <see cref="FlowCount"/> flows set up once by <see cref="EstablishFlows"/> (SYN, then the backend's SYN-ACK).
/// </summary>
public sealed class PacketCases
{
    public const int NewFlowPool = 16_384;
    public const int FlowCount = 4_096;

    private static readonly PhysicalAddress PodMac = PhysicalAddress.Parse("02-00-0a-c9-01-02");
    private static readonly PhysicalAddress HostMac = PhysicalAddress.Parse("02-00-00-00-00-fe");
    private static readonly byte[] Request = "GET / HTTP/1.1\r\n\r\n"u8.ToArray();

    private readonly ConntrackKey4[] _newFlowKeys;
    private readonly byte[][] _established = new byte[FlowCount][];
    private readonly byte[][] _replies = new byte[FlowCount][];
    private ConntrackKey4[] _mirrors = [];

    public PacketCases(int services, int seed = 6)
    {
        var random = new Random(seed);
        NewFlows = new byte[NewFlowPool][];
        _newFlowKeys = new ConntrackKey4[NewFlowPool];
        for (var k = 0; k < NewFlowPool; k++)
        {
            // (client, port) distinct per k: 250 clients × 66 ports
            var client = Address(10, 244, 1, 2 + k % 250);
            var port = (ushort)(1024 + k / 250);
            var vip = SyntheticServices.ClusterIP(random.Next(services));
            NewFlows[k] = Frame(client, port, vip, SyntheticServices.ServicePort, TcpFlags.Syn, []);
            _newFlowKeys[k] = new ConntrackKey4(client, port, vip, SyntheticServices.ServicePort, L4Protocol.Tcp);
        }

        FlowKeys = new ConntrackKey4[FlowCount];
        Syns = new byte[FlowCount][];
        for (var f = 0; f < FlowCount; f++)
        {
            var client = Address(10, 245, 1 + f / 250, 2 + f % 250);
            var port = (ushort)(40_000 + f);
            var vip = SyntheticServices.ClusterIP(random.Next(services));
            FlowKeys[f] = new ConntrackKey4(client, port, vip, SyntheticServices.ServicePort, L4Protocol.Tcp);
            Syns[f] = Frame(client, port, vip, SyntheticServices.ServicePort, TcpFlags.Syn, []);
            _established[f] = Frame(client, port, vip, SyntheticServices.ServicePort, TcpFlags.Ack | TcpFlags.Psh, Request);
        }

        PassThrough = new byte[NewFlowPool][];
        for (var k = 0; k < NewFlowPool; k++)
        {
            // pod to pod in 10.201.0.0/16: outside the Service CIDR, no frontend, no conntrack entry
            var destination = Address(10, 201, 2 + random.Next(200), 2 + random.Next(250));
            PassThrough[k] = Frame(Address(10, 201, 1, 2), (ushort)(1024 + k), destination, SyntheticServices.TargetPort, TcpFlags.Ack | TcpFlags.Psh, Request);
        }
    }

    public byte[][] NewFlows { get; }
    public byte[][] PassThrough { get; }
    public ConntrackKey4[] FlowKeys { get; }
    public byte[][] Syns { get; }
    public IReadOnlyList<byte[]> Established => _established;
    public IReadOnlyList<byte[]> Replies => _replies;

    /// <summary>
    /// Opens the <see cref="FlowCount"/> flows: the SYN through the program (DNAT to a backend it picks), then
    /// the backend's SYN-ACK (reverse NAT, the flow becomes established), and builds each flow's reply frame.
    /// </summary>
    public void EstablishFlows(CoreDataplane dataplane)
    {
        for (var f = 0; f < FlowCount; f++)
        {
            Expect(ProgramTiming.Run(dataplane.FromWorkload, Syns[f]), "SYN of an established flow");
            if (!dataplane.Conntrack.TryLookup(FlowKeys[f], out var forward) || forward.Type != ConntrackType.Forward)
                throw new InvalidOperationException($"no forward conntrack entry after the SYN of {FlowKeys[f]}");
            var backend = Ipv4.FromNbo(forward.NatAddressNbo);
            var backendPort = Ipv4.PortFromNbo(forward.NatPortNbo);
            var client = FlowKeys[f].Source;
            var clientPort = FlowKeys[f].SourcePort;
            Expect(ProgramTiming.Run(dataplane.FromWorkload, Frame(backend, backendPort, client, clientPort, TcpFlags.Syn | TcpFlags.Ack, [])),
                "SYN-ACK of an established flow");
            _replies[f] = Frame(backend, backendPort, client, clientPort, TcpFlags.Ack | TcpFlags.Psh, Request);
        }
    }

    /// <summary>
    /// For a valid repeat-N measurement of the conntrack-hit paths: mirror entries, written from user space,
    /// that map each flow's rewritten packet back to the original, so every repeat on the one skb is again a
    /// conntrack hit (DNAT VIP→backend, then backend→VIP, ...). Flow 0's established frame and reply frame then
    /// measure the hot established and reply paths; the counters prove every repeat took them. Returns the
    /// frames; <see cref="RemoveMirrors"/> deletes the entries again.
    /// </summary>
    public (byte[] Established, byte[] Reply) AddMirrors(CoreDataplane dataplane)
    {
        var key = FlowKeys[0];
        if (!dataplane.Conntrack.TryLookup(key, out var forward))
            throw new InvalidOperationException($"flow {key} is not established");
        var backend = Ipv4.FromNbo(forward.NatAddressNbo);
        var backendPort = Ipv4.PortFromNbo(forward.NatPortNbo);
        var now = Monotonic.NowNs();
        // forward {client, backend, cport, bport} -> VIP:vport; reverse {VIP, client, vport, cport} -> backend:bport
        _mirrors =
        [
            new ConntrackKey4(key.Source, key.SourcePort, backend, backendPort, L4Protocol.Tcp),
            new ConntrackKey4(key.Destination, key.DestinationPort, key.Source, key.SourcePort, L4Protocol.Tcp),
        ];
        dataplane.Conntrack.Update(_mirrors[0], new ConntrackValue4(now, now, ConntrackType.Forward, ConntrackTcpState.Established,
            0, 0, forward.ServiceId, key.Destination, key.DestinationPort));
        dataplane.Conntrack.Update(_mirrors[1], new ConntrackValue4(now, now, ConntrackType.Reverse, ConntrackTcpState.Established,
            0, 0, forward.ServiceId, backend, backendPort));
        return (_established[0], _replies[0]);
    }

    public void RemoveMirrors(CoreDataplane dataplane) => dataplane.Conntrack.DeleteBatch(_mirrors);

    /// <summary>Removes the conntrack pairs the new-flow frames created (untimed, between pool rounds).</summary>
    public void ForgetNewFlows(CoreDataplane dataplane) => ForgetNewFlows(dataplane, 0, NewFlowPool);

    /// <summary>Removes the conntrack pairs that new-flow frames <paramref name="first"/> .. first + count − 1 created.</summary>
    public void ForgetNewFlows(CoreDataplane dataplane, int first, int count)
    {
        var forward = new List<ConntrackKey4>(count);
        var reverse = new List<ConntrackKey4>(count);
        foreach (var key in _newFlowKeys.AsSpan(first, count))
        {
            if (!dataplane.Conntrack.TryLookup(key, out var value))
                continue;
            forward.Add(key);
            reverse.Add(new ConntrackKey4(Ipv4.FromNbo(value.NatAddressNbo), Ipv4.PortFromNbo(value.NatPortNbo), key.Source, key.SourcePort, L4Protocol.Tcp));
        }
        dataplane.Conntrack.DeleteBatch(reverse.ToArray());
        dataplane.Conntrack.DeleteBatch(forward.ToArray());
    }

    private static void Expect(TimedRun run, string what)
    {
        if (run.ReturnValue != 0)
            throw new InvalidOperationException($"{what}: the program returned {run.ReturnValue}, not TC_ACT_OK");
    }

    private static IPAddress Address(int a, int b, int c, int d) => new([(byte)a, (byte)b, (byte)c, (byte)d]);

    private static byte[] Frame(IPAddress source, ushort sourcePort, IPAddress destination, ushort destinationPort, TcpFlags flags, byte[] payload)
    {
        var segment = new TcpSegment
        {
            SourcePort = sourcePort, DestinationPort = destinationPort, Sequence = 1000, Acknowledgment = flags.HasFlag(TcpFlags.Ack) ? 5000u : 0,
            Flags = flags, Payload = payload,
        };
        var ip = new Ipv4Header { Source = source, Destination = destination, Protocol = IpProtocol.Tcp };
        return new EthernetHeader(HostMac, PodMac, EtherType.Ipv4).Build(ip.Build(segment.Build(source, destination)));
    }
}
