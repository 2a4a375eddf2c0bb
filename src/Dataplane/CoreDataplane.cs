using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Interop;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.Dataplane.Programs;

namespace ProxyReplacement.Dataplane;

/// <summary>
/// The core dataplane: the embedded tc_nat.bpf.o loaded into the kernel, its maps typed and its
/// programs ready to attach. With a pin root the maps are pinned, and a later load adopts them
/// (same entries, same map ids), which is how established flows survive a daemon restart.
/// Dispose closes every fd; pins stay, they are the point.
/// </summary>
public sealed class CoreDataplane : IDisposable
{
    private readonly LoadedBpfObject _object;
    private readonly BpfPerCpuArray<ulong> _counters;
    private readonly BpfMap<uint, DataplaneConfig> _config;
    private readonly BpfMap<uint, HostNetns> _hostNetns;
    private bool _disposed;

    private CoreDataplane(LoadedBpfObject loaded, LoadedVariant variant)
    {
        _object = loaded;
        Variant = variant;
        var opened = new List<IDisposable>();
        try
        {
            Frontends = Track(opened, new BpfMap<NatFrontendKey4, NatFrontendValue>(CoreObjectNames.Frontends, loaded.DuplicateMapFd(CoreObjectNames.Frontends)));
            Backends = Track(opened, new BpfMap<NatBackendKey, NatBackendValue4>(CoreObjectNames.Backends, loaded.DuplicateMapFd(CoreObjectNames.Backends)));
            Direct = Track(opened, new BpfMap<uint, NatDirectEntry4>(CoreObjectNames.Direct, loaded.DuplicateMapFd(CoreObjectNames.Direct)));
            Affinity = Track(opened, new BpfMap<AffinityKey4, AffinityValue4>(CoreObjectNames.Affinity, loaded.DuplicateMapFd(CoreObjectNames.Affinity)));
            Conntrack = Track(opened, new BpfMap<ConntrackKey4, ConntrackValue4>(CoreObjectNames.Conntrack, loaded.DuplicateMapFd(CoreObjectNames.Conntrack)));
            ServiceCidrs = Track(opened, new BpfMap<ServiceCidrKey4, ServiceCidrValue>(CoreObjectNames.ServiceCidrs, loaded.DuplicateMapFd(CoreObjectNames.ServiceCidrs)));
            SocketReverse = Track(opened, new BpfMap<SocketReverseKey4, SocketReverseValue4>(CoreObjectNames.SocketReverse, loaded.DuplicateMapFd(CoreObjectNames.SocketReverse)));
            LbSourceRanges = Track(opened, new BpfMap<LbSourceRangeKey4, LbSourceRangeValue>(CoreObjectNames.LbSourceRanges, loaded.DuplicateMapFd(CoreObjectNames.LbSourceRanges)));
            ServiceNames = Track(opened, new BpfMap<uint, ServiceName>(CoreObjectNames.ServiceNames, loaded.DuplicateMapFd(CoreObjectNames.ServiceNames)));
            Routes = Track(opened, new BpfMap<RouteKey4, RouteValue>(CoreObjectNames.Routes, loaded.DuplicateMapFd(CoreObjectNames.Routes)));
            PolicyEndpoints = Track(opened, new BpfMap<PolicyEndpointKey4, PolicyEndpoint>(CoreObjectNames.PolicyEndpoints, loaded.DuplicateMapFd(CoreObjectNames.PolicyEndpoints)));
            PolicyPorts = Track(opened, new BpfMap<PolicyPortKey, PolicyPortValue>(CoreObjectNames.PolicyPorts, loaded.DuplicateMapFd(CoreObjectNames.PolicyPorts)));
            PolicyPeers = Track(opened, new BpfMap<PolicyPeerKey4, PolicyPeerValue>(CoreObjectNames.PolicyPeers, loaded.DuplicateMapFd(CoreObjectNames.PolicyPeers)));
            PolicyConntrack = Track(opened, new BpfMap<PolicyConntrackKey4, PolicyConntrackValue4>(CoreObjectNames.PolicyConntrack, loaded.DuplicateMapFd(CoreObjectNames.PolicyConntrack)));
            _counters = Track(opened, new BpfPerCpuArray<ulong>(CoreObjectNames.Counters, loaded.DuplicateMapFd(CoreObjectNames.Counters)));
            _config = Track(opened, new BpfMap<uint, DataplaneConfig>(CoreObjectNames.Config, loaded.DuplicateMapFd(CoreObjectNames.Config)));
            _hostNetns = Track(opened, new BpfMap<uint, HostNetns>(CoreObjectNames.HostNetns, loaded.DuplicateMapFd(CoreObjectNames.HostNetns)));
            FromWorkload = loaded.Program(CoreObjectNames.FromWorkloadProgram);
            FromHost = loaded.Program(CoreObjectNames.FromHostProgram);
            ToWorkload = loaded.Program(CoreObjectNames.ToWorkloadProgram);
            PassThrough = loaded.Program(CoreObjectNames.PassThroughProgram);
        }
        catch
        {
            foreach (var map in opened)
                map.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads the core object, the default build or, on a kernel too old for it, the compat one
    /// (<see cref="DataplaneOptions.Variant"/>, <see cref="Variant"/>). With <see cref="DataplaneOptions.PinRoot"/>: refuses pins of another
    /// ABI version (<see cref="PinnedAbiVersionMismatchException"/>), adopts pinned maps of the same
    /// layout, refuses pinned maps of another layout (<see cref="MapLayoutMismatchException"/>, the
    /// pin untouched), pins the maps it created and writes the default config unless adopted.
    /// </summary>
    public static CoreDataplane Load(DataplaneOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        LibBpfLog.EnsureInstalled();
        if (options.PinRoot is not null)
        {
            PinRoot.Prepare(options.PinRoot);
            PinnedConfigCheck.EnsureCompatible(options.PinRoot);
        }

        var sizes = options.Sizes;
        var maxEntries = new Dictionary<string, uint>
        {
            [CoreObjectNames.Frontends] = Positive(sizes.Frontends, nameof(sizes.Frontends)),
            [CoreObjectNames.Backends] = Positive(sizes.Backends, nameof(sizes.Backends)),
            [CoreObjectNames.Direct] = PowerOfTwo(sizes.DirectSlots, nameof(sizes.DirectSlots)),
            [CoreObjectNames.Affinity] = Positive(sizes.Affinity, nameof(sizes.Affinity)),
            [CoreObjectNames.Conntrack] = Positive(sizes.Conntrack, nameof(sizes.Conntrack)),
            [CoreObjectNames.SocketReverse] = Positive(sizes.SocketReverse, nameof(sizes.SocketReverse)),
            [CoreObjectNames.LbSourceRanges] = Positive(sizes.LbSourceRanges, nameof(sizes.LbSourceRanges)),
            [CoreObjectNames.Routes] = Positive(sizes.Routes, nameof(sizes.Routes)),
            [CoreObjectNames.PolicyEndpoints] = Positive(sizes.PolicyEndpoints, nameof(sizes.PolicyEndpoints)),
            [CoreObjectNames.PolicyPorts] = Positive(sizes.PolicyPorts, nameof(sizes.PolicyPorts)),
            [CoreObjectNames.PolicyPeers] = Positive(sizes.PolicyPeers, nameof(sizes.PolicyPeers)),
            [CoreObjectNames.PolicyConntrack] = Positive(sizes.PolicyConntrack, nameof(sizes.PolicyConntrack)),
            // one name per service id, and every id has a frontend
            [CoreObjectNames.ServiceNames] = Positive(sizes.Frontends, nameof(sizes.Frontends)),
        };
        // Both builds declare the same maps: whichever loads adopts (or creates) the same pins.
        var (loaded, variant) = VariantLoader.Load(options.Variant, CoreObjectNames.ObjectFile,
            v => BpfObjectLoader.Load(new BpfObjectSpec(
                EmbeddedObjects.Read(DataplaneVariants.ObjectFile(CoreObjectNames.ObjectFile, v)), "tc_nat", maxEntries, options.PinRoot,
                DerivedMaps: DerivedMaps)),
            VariantProbe.WhyTcCompat);
        try
        {
            var dataplane = new CoreDataplane(loaded, variant);
            // A fresh pr_config, or an adopted one that was pinned but never written (a start that
            // died between pinning and this line), gets the defaults stamped with our ABI version.
            if (!loaded.AdoptedMaps.Contains(CoreObjectNames.Config) || dataplane.ReadConfig().AbiVersion == 0)
                dataplane.WriteConfig(DataplaneConfig.Default);
            // The fast path's mask follows the table this load sized. This also migrates the pins of an adoptable older ABI
            // (DataplaneConfig.AdoptableAbiVersions): their settings kept, the config stamped as ours from here on.
            var config = dataplane.ReadConfig();
            if (config.AbiVersion != DataplaneConfig.CurrentAbiVersion || config.DirectMask4 != dataplane.DirectMask)
                dataplane.WriteConfig(config.WithDirectMask(dataplane.DirectMask));
            return dataplane;
        }
        catch
        {
            loaded.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Removes the pins of the core maps under <paramref name="pinRoot"/> (the `cleanup` command).
    /// This drops their state once no program uses them any more. Returns the names removed.
    /// </summary>
    public static IReadOnlyList<string> RemovePins(string pinRoot)
    {
        using var obj = BpfObjectHandle.Open(EmbeddedObjects.Read(CoreObjectNames.ObjectFile), "tc_nat");
        var removed = new List<string>();
        foreach (var name in BpfObjectLoader.MapsOf(obj.Pointer).Keys.Where(PinRoot.IsPinnable).Order(StringComparer.Ordinal))
        {
            var path = PinRoot.PathOf(pinRoot, name);
            if (!File.Exists(path))
                continue;
            File.Delete(path);
            removed.Add(name);
        }
        return removed;
    }

    /// <summary>pr_nat_fe4: Service VIP:port/proto -> service.</summary>
    public BpfMap<NatFrontendKey4, NatFrontendValue> Frontends { get; }

    /// <summary>pr_nat_be4: (service id, ordinal) -> backend.</summary>
    public BpfMap<NatBackendKey, NatBackendValue4> Backends { get; }

    /// <summary>pr_aff4 (LRU): (frontend, client) -> chosen backend.</summary>
    public BpfMap<AffinityKey4, AffinityValue4> Affinity { get; }

    /// <summary>pr_ct4 (LRU): 5-tuple -> NAT state.</summary>
    public BpfMap<ConntrackKey4, ConntrackValue4> Conntrack { get; }

    /// <summary>pr_svc_cidr4 (LPM trie): Service CIDRs; unclaimed addresses inside them are rejected.</summary>
    public BpfMap<ServiceCidrKey4, ServiceCidrValue> ServiceCidrs { get; }

    /// <summary>pr_sk_rev4 (LRU): (socket cookie, backend) -> VIP:port, for the socket hooks' reverse translation.</summary>
    public BpfMap<SocketReverseKey4, SocketReverseValue4> SocketReverse { get; }

    /// <summary>pr_routes4 (LPM trie): pod CIDR or node address -> the node that owns it (the routing module's).</summary>
    public BpfMap<RouteKey4, RouteValue> Routes { get; }

    /// <summary>pr_pol_ep4 (hash): isolated pod of this node -> its ingress and egress rule sets (the policy module's).</summary>
    public BpfMap<PolicyEndpointKey4, PolicyEndpoint> PolicyEndpoints { get; }

    /// <summary>pr_pol_ports4 (LPM trie): (rule set, protocol, port prefix) -> port class.</summary>
    public BpfMap<PolicyPortKey, PolicyPortValue> PolicyPorts { get; }

    /// <summary>pr_pol_peers4 (LPM trie): (rule set, port class, peer prefix) -> allow or deny.</summary>
    public BpfMap<PolicyPeerKey4, PolicyPeerValue> PolicyPeers { get; }

    /// <summary>pr_pol_ct4 (LRU): flows of policed pods, approved by the ends on this node (written by the programs only).</summary>
    public BpfMap<PolicyConntrackKey4, PolicyConntrackValue4> PolicyConntrack { get; }

    /// <summary>pr_lb_src4 (LPM trie): (service id, source prefix) allowed by loadBalancerSourceRanges.</summary>
    public BpfMap<LbSourceRangeKey4, LbSourceRangeValue> LbSourceRanges { get; }

    /// <summary>pr_nat_direct4 (ARRAY): the ClusterIP fast path, slot ntohl(vip) &amp; <see cref="DirectMask"/> -> a sealed frontend and its backends.</summary>
    public BpfMap<uint, NatDirectEntry4> Direct { get; }

    /// <summary><c>pr_config.direct_mask4</c> for this load: <see cref="Direct"/>'s slots - 1.</summary>
    public uint DirectMask => (uint)Direct.MaxEntries - 1;

    /// <summary>pr_svc_names: service id -> namespace/name/port, for dump and explain (no program reads it).</summary>
    public BpfMap<uint, ServiceName> ServiceNames { get; }

    /// <summary>SEC("tc") pr_tc_from_wl: host-side veth ingress (packets leaving a pod).</summary>
    public BpfProgram FromWorkload { get; }

    /// <summary>SEC("tc") pr_tc_from_host: host data interface ingress (NodePort, LoadBalancer, external IPs from outside).</summary>
    public BpfProgram FromHost { get; }

    /// <summary>SEC("tc") pr_tc_to_wl: host-side veth egress (packets going to a pod): NetworkPolicy's ingress check.</summary>
    public BpfProgram ToWorkload { get; }

    /// <summary>SEC("tc") pr_tc_pass: returns TC_ACT_OK; the baseline for benchmarks.</summary>
    public BpfProgram PassThrough { get; }

    /// <summary>Which build of tc_nat.bpf.o was loaded (default or compat), and why.</summary>
    public LoadedVariant Variant { get; }

    /// <summary>Pinned maps of another size that this load replaced by maps of the configured size, entries copied.</summary>
    public IReadOnlyList<ResizedMap> ResizedMaps => _object.Resized;

    /// <summary>
    /// Maps whose contents the Syncer derives from the others and rewrites in full: a pin of another size is replaced by an
    /// empty map of the configured size (<see cref="RecreatedMaps"/>), not migrated or refused. The fast path's slots are
    /// a ClusterIP's low bits under the table's mask, so entries of the old size would sit in the wrong slots.
    /// </summary>
    private static readonly IReadOnlySet<string> DerivedMaps = new HashSet<string>(StringComparer.Ordinal) { CoreObjectNames.Direct };

    /// <summary>
    /// Derived maps pinned at another size that this load replaced by empty maps of the configured size (the first sync fills
    /// them). The old map lives on while programs attached before this load still use it, until they are replaced.
    /// </summary>
    public IReadOnlyList<ResizedMap> RecreatedMaps => _object.Recreated;

    /// <summary>
    /// After the programs attached before this load were replaced (TC and socket hooks): copies into each resized map
    /// the entries its old map gained since the load, and releases the old maps. Until then they stay open. Returns
    /// the resized maps with <see cref="ResizedMap.CaughtUp"/> set; empty when nothing was resized.
    /// </summary>
    public IReadOnlyList<ResizedMap> FinishResize() => _object.FinishResize();

    /// <summary>Names of the maps re-opened from pins rather than created by this load.</summary>
    public IReadOnlySet<string> AdoptedMaps => _object.AdoptedMaps;

    /// <summary>The per-CPU counters map (pr_counters), for tools that want per-CPU values.</summary>
    public BpfPerCpuArray<ulong> CounterMap => _counters;

    /// <summary>pr_config[0].</summary>
    public DataplaneConfig ReadConfig() =>
        _config.TryLookup(0, out var config)
            ? config
            : throw new BpfException("pr_config has no entry 0", Errno.ENOENT);

    public void WriteConfig(DataplaneConfig config) => _config.Update(0, config);

    /// <summary>
    /// Switches connect-time balancing (pr_config.sock_lb_mode), keeping the rest of the config. The
    /// socket programs read it on every call: the switch applies to the next connect()/sendmsg().
    /// </summary>
    public void SetSocketLbMode(SocketLbMode mode) => WriteConfig(ReadConfig().WithSocketLbMode(mode));

    /// <summary>
    /// pr_host_netns: the network namespace whose sockets the socket hooks treat as host-network
    /// clients (ClientIP affinity keyed as <see cref="AffinityKey4.HostClient"/>, as no TC hook is on
    /// their path). The daemon writes its own (<see cref="Netns.NetnsCookie.OfCurrentThread"/>); 0 = unknown.
    /// </summary>
    public void SetHostNetnsCookie(ulong cookie) => _hostNetns.Update(0, new HostNetns(cookie));

    /// <summary>The cookie in pr_host_netns (0: never written, every socket is treated as a pod's).</summary>
    public ulong ReadHostNetnsCookie() => _hostNetns.TryLookup(0, out var host) ? host.Cookie : 0;

    /// <summary>The fds of this object's maps by name, for an object that runs on the same maps (valid while this is not disposed).</summary>
    internal IReadOnlyDictionary<string, int> ShareableMapFds()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _object.ShareableMapFds();
    }

    /// <summary>pr_counters summed over all CPUs, for every <see cref="CounterReason"/>.</summary>
    public IReadOnlyDictionary<CounterReason, ulong> ReadCounters() => CounterTotals.Sum(_counters);

    /// <summary>Zeroes every slot (including ones no reason uses yet) on every CPU.</summary>
    public void ResetCounters()
    {
        for (uint slot = 0; slot < _counters.Slots; slot++)
            _counters.Clear(slot);
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        Frontends.Dispose();
        Backends.Dispose();
        Direct.Dispose();
        Affinity.Dispose();
        Conntrack.Dispose();
        ServiceCidrs.Dispose();
        SocketReverse.Dispose();
        LbSourceRanges.Dispose();
        ServiceNames.Dispose();
        Routes.Dispose();
        PolicyEndpoints.Dispose();
        PolicyPorts.Dispose();
        PolicyPeers.Dispose();
        PolicyConntrack.Dispose();
        _counters.Dispose();
        _config.Dispose();
        _hostNetns.Dispose();
        _object.Dispose();
    }

    private static T Track<T>(List<IDisposable> opened, T map) where T : IDisposable
    {
        opened.Add(map);
        return map;
    }

    private static uint Positive(int size, string name)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1, $"{nameof(CoreMapSizes)}.{name}");
        return (uint)size;
    }

    /// <summary>A size that is a power of two (1 included), for a table indexed by masked bits.</summary>
    private static uint PowerOfTwo(int size, string name)
    {
        if (size < 1 || !System.Numerics.BitOperations.IsPow2(size))
            throw new ArgumentOutOfRangeException($"{nameof(CoreMapSizes)}.{name}", size, "must be a power of two (1, 2, 4, ...)");
        return (uint)size;
    }
}
