using System.Net;
using System.Net.NetworkInformation;
using System.Runtime.InteropServices;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.Dataplane.Tests.Packets;

namespace ProxyReplacement.Bench.Suites.Policy;

/// <summary>
/// The rules of the policy benchmark, in both representations. Rule i (0-based) allows TCP port 1000+i from
/// 10.(100 + i/256).(i%256).0/24: every rule its own port and peer, so N rules are N port classes with one peer
/// each in the LPM tries, and N entries for the loop to walk. The measured packet is a SYN that the last rule
/// allows (the loop's worst allowed case; the LPM does not care which rule matches).
/// </summary>
public static class PolicyBenchRules
{
    public const ushort FirstPort = 1000;

    private static readonly PhysicalAddress PodMac = PhysicalAddress.Parse("02-00-0a-c9-02-02");
    private static readonly PhysicalAddress HostMac = PhysicalAddress.Parse("02-00-00-00-00-fe");

    public static IPAddress PeerNetwork(int rule) => new([10, (byte)(100 + rule / 256), (byte)(rule % 256), 0]);

    /// <summary>A host inside rule <paramref name="rule"/>'s peer network.</summary>
    public static IPAddress PeerHost(int rule) => new([10, (byte)(100 + rule / 256), (byte)(rule % 256), 7]);

    public static ushort Port(int rule) => (ushort)(FirstPort + rule);

    /// <summary>The compiled form (pr_pol_ports4, pr_pol_peers4) of rules 0..count-1 under set <paramref name="set"/>.</summary>
    public static void WriteLpm(CoreDataplane dataplane, uint set, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var portClass = (uint)(i + 1);
            dataplane.PolicyPorts.Update(new PolicyPortKey(set, IpProtocol.Tcp, Port(i), 16), new PolicyPortValue(portClass));
            dataplane.PolicyPeers.Update(new PolicyPeerKey4(set, portClass, new IPNetwork(PeerNetwork(i), 24)),
                new PolicyPeerValue(PolicyVerdict.Allow, (uint)(i + 1)));
        }
    }

    /// <summary>The loop's table (struct pr_bench_rule of bench/policy_repr.bpf.c): rules 0..count-1.</summary>
    public static void WriteTable(BpfMap<uint, BenchRule> table, int count)
    {
        for (var i = 0; i < count; i++)
            table.Update((uint)i, new BenchRule(PeerNetwork(i), 24, Port(i), Port(i), IpProtocol.Tcp, PolicyVerdict.Allow));
    }

    /// <summary>A SYN to <paramref name="endpoint"/> that rule <paramref name="rule"/> allows, from source port <paramref name="sourcePort"/>.</summary>
    public static byte[] Syn(int rule, IPAddress endpoint, ushort sourcePort)
    {
        var source = PeerHost(rule);
        var segment = new TcpSegment { SourcePort = sourcePort, DestinationPort = Port(rule), Sequence = 1000, Flags = TcpFlags.Syn, Payload = [] };
        var ip = new Ipv4Header { Source = source, Destination = endpoint, Protocol = IpProtocol.Tcp };
        return new EthernetHeader(PodMac, HostMac, EtherType.Ipv4).Build(ip.Build(segment.Build(source, endpoint)));
    }
}

/// <summary>struct pr_bench_rule (bench/policy_repr.bpf.c): a peer prefix, a protocol, a port range, a verdict.</summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
public readonly record struct BenchRule
{
    [FieldOffset(0)] public readonly uint AddressNbo;
    [FieldOffset(4)] public readonly uint MaskNbo;
    [FieldOffset(8)] public readonly ushort PortLow;
    [FieldOffset(10)] public readonly ushort PortHigh;
    [FieldOffset(12)] public readonly byte Protocol;
    [FieldOffset(13)] public readonly byte Verdict;
    [FieldOffset(14)] private readonly ushort _pad;

    public BenchRule(IPAddress network, int prefixLength, ushort portLow, ushort portHigh, byte protocol, PolicyVerdict verdict)
    {
        AddressNbo = Ipv4.ToNbo(network);
        var mask = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(mask, prefixLength == 0 ? 0 : uint.MaxValue << (32 - prefixLength));
        MaskNbo = Ipv4.ToNbo(new IPAddress(mask));
        PortLow = portLow;
        PortHigh = portHigh;
        Protocol = protocol;
        Verdict = (byte)verdict;
        _pad = 0;
    }
}

/// <summary>struct pr_bench_config (bench/policy_repr.bpf.c).</summary>
[StructLayout(LayoutKind.Explicit, Size = 8)]
public readonly record struct BenchConfig(
    [field: FieldOffset(0)] uint LpmSet,
    [field: FieldOffset(4)] uint LoopRules);
