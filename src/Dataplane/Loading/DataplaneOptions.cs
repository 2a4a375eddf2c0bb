using ProxyReplacement.Dataplane.Loading;

namespace ProxyReplacement.Dataplane;

/// <summary>Sizes of the core maps, set before load (bpf_map__set_max_entries).</summary>
/// <param name="SocketReverse">pr_sk_rev4 (LRU): one entry per socket the socket hooks translated (per backend for unconnected UDP).</param>
/// <param name="LbSourceRanges">pr_lb_src4 (LPM): one entry per loadBalancerSourceRanges CIDR per Service port.</param>
/// <param name="Routes">pr_routes4 (LPM): one entry per Node pod CIDR and per Node address.</param>
/// <param name="PolicyEndpoints">pr_pol_ep4 (hash): one entry per isolated pod of this node.</param>
/// <param name="PolicyPorts">pr_pol_ports4 (LPM): port prefix blocks of every rule set.</param>
/// <param name="PolicyPeers">pr_pol_peers4 (LPM): peer prefixes per rule set and port class.</param>
/// <param name="PolicyConntrack">pr_pol_ct4 (LRU): one entry per flow of a pod that has a policy endpoint entry.</param>
public sealed record CoreMapSizes(int Frontends = 65536, int Backends = 262144, int Affinity = 65536, int Conntrack = 262144,
    int SocketReverse = 65536, int LbSourceRanges = 4096, int Routes = 16384,
    int PolicyEndpoints = 16384, int PolicyPorts = 65536, int PolicyPeers = 262144, int PolicyConntrack = 65536,
    int DirectSlots = 65536);

/// <summary>How <see cref="CoreDataplane.Load"/> loads the core object.</summary>
public sealed record DataplaneOptions
{
    /// <summary>
    /// A directory on a bpffs mount where the maps are pinned (created if missing) and from which
    /// a restarted daemon adopts them; null: no pinning (packet tests).
    /// </summary>
    public string? PinRoot { get; init; }

    public CoreMapSizes Sizes { get; init; } = new();

    /// <summary>
    /// Which build of tc_nat.bpf.o to load; <see cref="DataplaneVariant.Auto"/> (the default) probes, unless
    /// <see cref="DataplaneVariants.EnvironmentVariable"/> forces one. Both builds have the same maps, so a
    /// restart with the other one adopts the pins.
    /// </summary>
    public DataplaneVariant Variant { get; init; } = DataplaneVariant.Auto;
}
