using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Cli.Explain;

namespace ProxyReplacement.ServiceProxy.Tests.Cli.Explain;

/// <summary>The core maps in memory, filled the way the daemon and the programs fill them, for <see cref="PacketExplainer"/>.</summary>
public sealed class FakeDataplane
{
    public const ulong Now = 1_000_000 * 1_000_000_000UL; // CLOCK_MONOTONIC ns of the explanation: 1,000,000 s

    public InMemoryBpfMap<NatFrontendKey4, NatFrontendValue> Frontends { get; } = new("pr_nat_fe4", 64);
    public InMemoryBpfMap<NatBackendKey, NatBackendValue4> Backends { get; } = new("pr_nat_be4", 64);
    public InMemoryBpfMap<AffinityKey4, AffinityValue4> Affinity { get; } = new("pr_aff4", 64);
    public InMemoryBpfMap<ConntrackKey4, ConntrackValue4> Conntrack { get; } = new("pr_ct4", 64);
    public InMemoryBpfMap<ServiceCidrKey4, ServiceCidrValue> ServiceCidrs { get; } = new("pr_svc_cidr4", 8);
    public InMemoryBpfMap<LbSourceRangeKey4, LbSourceRangeValue> SourceRanges { get; } = new("pr_lb_src4", 16);
    public InMemoryBpfMap<uint, ServiceName> Names { get; } = new("pr_svc_names", 16);
    public InMemoryBpfMap<RouteKey4, RouteValue> Routes { get; } = new("pr_routes4", 16);
    /// <summary>pr_nat_direct4 with 16 slots; used only once <see cref="Config"/> holds its mask (<see cref="DirectSlot"/>).</summary>
    public InMemoryBpfMap<uint, NatDirectEntry4> Direct { get; } = new("pr_nat_direct4", 16);
    public DataplaneConfig? Config { get; set; } = DataplaneConfig.Default.WithSocketLbMode(SocketLbMode.Tcp);
    public ulong? HostNetnsCookie { get; set; } = 4096;

    public FakeDataplane() => ServiceCidrs.Update(new ServiceCidrKey4(IPAddress.Parse("10.96.0.0"), 12), default);

    public ExplainMaps Maps => new(Frontends, Backends, Affinity, Conntrack, ServiceCidrs, Config, HostNetnsCookie, SourceRanges, Names, Routes, Direct);

    /// <summary>
    /// A fast-path slot as the Syncer writes it: at the VIP's host-order low 4 bits (the table's mask, now in pr_config),
    /// a sealed copy of the frontend, the id and these backends.
    /// </summary>
    public uint DirectSlot(NatFrontendKey4 key, uint id, string[] backends)
    {
        Config = (Config ?? DataplaneConfig.Default).WithDirectMask(15);
        var slot = ProxyReplacement.ServiceProxy.Sync.DirectSlots.SlotOf(key, 15);
        Direct.Update(slot, new NatDirectEntry4(key, id, backends.Select(b => IPEndPoint.Parse(b)).Select(e => new NatBackendValue4(e.Address, (ushort)e.Port)).ToList()));
        return slot;
    }

    /// <summary>A pr_routes4 entry as the routing module writes it.</summary>
    public void Route(string prefix, RouteFlags flags, string? node) =>
        Routes.Update(new RouteKey4(IPNetwork.Parse(prefix)), new RouteValue(flags, node is null ? null : IPAddress.Parse(node)));

    public static NatFrontendKey4 Key(string vip, ushort port, L4Protocol protocol = L4Protocol.Tcp) => new(IPAddress.Parse(vip), port, protocol);

    /// <summary>A frontend with its backends at ordinals 0.. (count: as many as given unless said).</summary>
    public void Service(NatFrontendKey4 key, uint id, string[] backends, uint? count = null, FrontendFlags flags = FrontendFlags.None, uint affinityTimeout = 0,
        FrontendKind kind = FrontendKind.ClusterIP, string[]? local = null)
    {
        Frontends.Update(key, new NatFrontendValue(id, count ?? (uint)backends.Length, flags, affinityTimeout, kind, (uint)(local?.Length ?? 0)));
        for (var i = 0; i < (local?.Length ?? 0); i++)
        {
            var endpoint = IPEndPoint.Parse(local![i]);
            Backends.Update(new NatBackendKey(id, NatFrontendValue.LocalOrdinalBase + (uint)i), new NatBackendValue4(endpoint.Address, (ushort)endpoint.Port));
        }
        for (var i = 0; i < backends.Length; i++)
        {
            if (backends[i].Length == 0)
                continue; // a hole
            var endpoint = IPEndPoint.Parse(backends[i]);
            Backends.Update(new NatBackendKey(id, (uint)i), new NatBackendValue4(endpoint.Address, (ushort)endpoint.Port));
        }
    }

    public void AffinityEntry(NatFrontendKey4 frontend, string client, uint ordinal, string backend, double secondsAgo)
    {
        var endpoint = IPEndPoint.Parse(backend);
        Affinity.Update(new AffinityKey4(frontend, IPAddress.Parse(client)),
            new AffinityValue4(Now - (ulong)(secondsAgo * 1e9), ordinal, endpoint.Address, (ushort)endpoint.Port));
    }

    public void Flow(string client, ushort clientPort, NatFrontendKey4 frontend, string backend, uint id, double idleSeconds,
        ConntrackTcpState state = ConntrackTcpState.Established)
    {
        var endpoint = IPEndPoint.Parse(backend);
        var seen = Now - (ulong)(idleSeconds * 1e9);
        var tcp = frontend.L4 == L4Protocol.Tcp ? state : ConntrackTcpState.None;
        Conntrack.Update(new ConntrackKey4(IPAddress.Parse(client), clientPort, frontend.Vip, frontend.Port, frontend.L4),
            new ConntrackValue4(seen - 1_000_000_000, seen, ConntrackType.Forward, tcp, 0, 0, id, endpoint.Address, (ushort)endpoint.Port));
        Conntrack.Update(new ConntrackKey4(endpoint.Address, (ushort)endpoint.Port, IPAddress.Parse(client), clientPort, frontend.L4),
            new ConntrackValue4(seen - 1_000_000_000, seen, ConntrackType.Reverse, tcp, 0, 0, id, frontend.Vip, frontend.Port));
    }

    public Explanation Explain(string from, string source, string destination) =>
        PacketExplainer.Explain(Maps, ExplainRequest.Parse(from, source, destination), Now);

    public string Text(string from, string source, string destination) => ExplanationRenderer.Text(Explain(from, source, destination));
}
