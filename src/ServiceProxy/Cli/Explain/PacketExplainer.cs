using System.Net;
using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Cli.Explain;

/// <summary>
/// What the dataplane would do with a first packet (or a connect()) from a client to DST:PORT/PROTO, step by step,
/// read from its maps. A mirror of the BPF decisions, which remain the truth: <c>bpf-c/tc_nat.bpf.c</c>
/// (<c>pr_tc_from_wl</c>: conntrack, then <c>pr_new_flow</c>), <c>include/pr_lb.h</c> (<c>pr_lb_frontend4</c>,
/// <c>pr_lb_choose4</c>), <c>include/pr_nat.h</c> (<c>pr_affinity_lookup</c>, <c>pr_choose_backend</c>),
/// <c>include/pr_conntrack.h</c> (timeouts) and <c>include/pr_sock.h</c> (the socket hooks). A change there needs
/// the same change here; the golden tests (tests/ServiceProxy.Tests/Cli/Explain) pin the cases down.
/// Pure: reads the maps, writes nothing, and takes the clock (CLOCK_MONOTONIC ns, the BPF clock) as an argument.
/// </summary>
/// <remarks>
/// Two functions carry what a frontend is and which backends may serve it, so that new frontend kinds and endpoint
/// selection (topology, terminating endpoints) extend them alone: <see cref="ReadFrontend"/> (the frontend map entry and the Service CIDR around it)
/// and <see cref="DecideEligibility"/> (each backend ordinal, eligible or not, and why).
/// </remarks>
public static class PacketExplainer
{
    /// <summary><c>PR_DEFAULT_AFFINITY_TIMEOUT_S</c>: Kubernetes' default ClientIP affinity timeout.</summary>
    public const uint DefaultAffinityTimeoutSeconds = 10800;

    private const double NsPerSecond = 1e9;

    public static Explanation Explain(ExplainMaps maps, ExplainRequest request, ulong nowNs)
    {
        ArgumentNullException.ThrowIfNull(maps);
        ArgumentNullException.ThrowIfNull(request);
        var trace = new Trace(maps, request, nowNs);
        return request.From switch
        {
            TrafficOrigin.Pod => FromPod(trace),
            TrafficOrigin.Host => FromHost(trace),
            _ => FromExternal(trace),
        };
    }

    // ---- the two extension points ---------------------------------------------------------------------------------

    /// <summary>
    /// <c>pr_lb_frontend4</c>: the frontend of the destination (its kind, and its Service port from pr_svc_names when
    /// the daemon wrote it), or null with the Service CIDR that holds the address (a reject) or null (not a Service).
    /// </summary>
    public static (FrontendInfo? Frontend, ServiceCidrKey4? Cidr) ReadFrontend(ExplainMaps maps, NatFrontendKey4 key)
    {
        ArgumentNullException.ThrowIfNull(maps);
        if (!maps.Frontends.TryLookup(key, out var value))
            return (null, ServiceCidrOf(maps, key.Vip));
        string? service = maps.Names is { } names && names.TryLookup(value.ServiceId, out var name) ? name.ToString() : null;
        return (new FrontendInfo(key, value, value.Kind.ToString(), service), null);
    }

    /// <summary>
    /// The set a choice is made from and which ordinals in it may be chosen (<c>pr_lb_choose4</c>, <c>pr_choose_backend</c>):
    /// the node-local set (ordinals <see cref="NatFrontendValue.LocalOrdinalBase"/> + [0, local_count)) when the traffic
    /// policy for this origin is Local (externalTrafficPolicy for traffic from outside the node, internalTrafficPolicy for
    /// pods and the host), else the cluster set [0, backend_count). The dataplane picks <c>base + random % count</c>, so
    /// every ordinal of the set is a candidate; one without a backend entry is one whose choice is rejected
    /// (<c>PR_LB_BACKEND_MISSING</c>). Entries outside the set are listed as not eligible, with why.
    /// </summary>
    public static (BackendSet Set, IReadOnlyList<BackendCandidate> Candidates) DecideEligibility(ExplainMaps maps, FrontendInfo frontend, ExplainRequest request)
    {
        ArgumentNullException.ThrowIfNull(maps);
        ArgumentNullException.ThrowIfNull(frontend);
        ArgumentNullException.ThrowIfNull(request);
        var value = frontend.Value;
        var external = request.From == TrafficOrigin.External;
        var localFlag = external ? FrontendFlags.ExternalLocal : FrontendFlags.InternalLocal;
        var set = value.Flags.HasFlag(localFlag)
            ? new BackendSet(NatFrontendValue.LocalOrdinalBase, value.LocalCount,
                $"the node-local set ({(external ? "externalTrafficPolicy" : "internalTrafficPolicy")}: Local)")
            : new BackendSet(0, value.BackendCount, "the cluster set");
        var present = maps.Backends.ReadAll()
            .Where(entry => entry.Key.ServiceId == value.ServiceId)
            .ToDictionary(entry => entry.Key.Ordinal, entry => entry.Value);
        var candidates = new List<BackendCandidate>();
        for (uint i = 0; i < set.Count; i++)
        {
            var ordinal = set.Base + i;
            candidates.Add(present.TryGetValue(ordinal, out var backend)
                ? new BackendCandidate(ordinal, backend, true, $"in {set.Name}")
                : new BackendCandidate(ordinal, null, false, "counted, but no backend entry: a choice of it is rejected"));
        }
        foreach (var (ordinal, backend) in present.Where(pair => pair.Key < set.Base || pair.Key - set.Base >= set.Count).OrderBy(pair => pair.Key))
        {
            var local = ordinal >= NatFrontendValue.LocalOrdinalBase;
            var count = local ? value.LocalCount : value.BackendCount;
            var reason = (local ? ordinal - NatFrontendValue.LocalOrdinalBase : ordinal) >= count
                ? $"not counted (the {(local ? "local" : "cluster")} set counts {count}): being added or removed"
                : local ? "node-local, but this origin's traffic policy is Cluster: the cluster set is used"
                        : "in the cluster set, but this origin's traffic policy is Local: only node-local backends";
            candidates.Add(new BackendCandidate(ordinal, backend, false, reason));
        }
        return (set, candidates);
    }

    // ---- the programs ---------------------------------------------------------------------------------------------

    private static Explanation FromPod(Trace trace)
    {
        trace.Program = "pr_tc_from_wl (TC ingress on the pod's host-side veth)";
        trace.Step("packet", $"IPv4 {Proto(trace.Request)} {trace.Request.Source} -> {trace.Request.DestinationText}");
        return FromTc(trace);
    }

    private static Explanation FromExternal(Trace trace)
    {
        var request = trace.Request;
        trace.Program = "pr_tc_from_host (TC ingress on the host's data interfaces)";
        trace.Step("packet", $"IPv4 {Proto(request)} {request.Source} -> {request.DestinationText}, arriving on a host interface" +
                             (request.Protocol == L4Protocol.Tcp ? " (a SYN: a TCP packet that is not one and has no conntrack entry passes untouched, pass_not_new)" : ""));
        return FromTc(trace);
    }

    /// <summary><c>pr_tc_nat</c>: conntrack, then <c>pr_new_flow</c>, for both TC programs.</summary>
    private static Explanation FromTc(Trace trace)
    {
        var request = trace.Request;
        trace.Flows = TrackedFlows(trace.Maps, request, trace.NowNs);
        if (trace.Flows.Count == 0)
            trace.Step("conntrack", $"no tracked flow from {request.Source} to {request.DestinationText} (any source port): the packet starts a new flow");
        foreach (var flow in trace.Flows)
            trace.Step("conntrack", DescribeFlow(flow));
        if (trace.Flows.Count > 0)
            trace.Step("conntrack", "a packet from any other source port starts a new flow:");

        var (frontend, cidr) = ReadFrontend(trace.Maps, request.FrontendKey);
        if (request.From == TrafficOrigin.Pod)
            FastPathStep(trace, frontend); // pr_new_flow tries the slot for pods' flows only
        if (frontend is null)
            return NoFrontend(trace, cidr, refuse: false);
        Describe(trace, frontend);
        // 0.0.0.0 is no client (the kernel drops it as a martian) and is the host netns's affinity identity.
        return Choose(trace, frontend, request.Source, clientKnown: !request.Source.Equals(IPAddress.Any), socket: false);
    }

    private static Explanation FromHost(Trace trace)
    {
        var request = trace.Request;
        trace.Program = "cgroup connect4 / sendmsg4 (connect-time balancing, sockets in the --cgroup-path cgroup)";
        trace.Step("socket", $"{(request.Protocol == L4Protocol.Tcp ? "connect()" : "connect() or sendmsg()")} of a host-network {Proto(request)} socket " +
                             $"{(request.Source.Equals(IPAddress.Any) ? "(unbound)" : $"bound to {request.Source}")} to {request.DestinationText}");
        var mode = trace.Maps.Config?.SocketLbMode ?? SocketLbMode.Disabled;
        var covered = request.Protocol == L4Protocol.Tcp ? mode is SocketLbMode.Tcp or SocketLbMode.Enabled : mode == SocketLbMode.Enabled;
        if (!covered)
        {
            trace.Step("mode", $"socket LB mode {Name(mode)}{(trace.Maps.Config is null ? " (pr_config never written)" : "")} does not translate {Proto(request)}: the hooks let the call through as it is");
            return trace.Finish(ExplainVerdict.Pass,
                "not translated at the socket: the packets carry the Service address; only a TC program of ours on their way (a pod's veth) translates them", null);
        }
        trace.Step("mode", $"socket LB mode {Name(mode)} translates {Proto(request)}");

        var (frontend, cidr) = ReadFrontend(trace.Maps, request.FrontendKey);
        FastPathStep(trace, frontend);
        if (frontend is null)
            return NoFrontend(trace, cidr, refuse: true);
        Describe(trace, frontend);

        var hostCookie = trace.Maps.HostNetnsCookie ?? 0;
        var client = request.Source;
        var clientKnown = !client.Equals(IPAddress.Any);
        if (hostCookie == 0)
            trace.Step("client", "pr_host_netns holds no cookie: the hooks treat every socket as a pod's, keyed by its bound address");
        else if (frontend.Value.Flags.HasFlag(FrontendFlags.SourceRanges))
            trace.Step("client", "a source-range frontend: checked against the socket's bound address, as for a pod's socket (not the node identity)");
        else
        {
            trace.Step("client", $"the socket is in the host network namespace (pr_host_netns cookie {hostCookie}): its affinity client is the node, 0.0.0.0");
            client = IPAddress.Any;
            clientKnown = true;
        }
        return Choose(trace, frontend, client, clientKnown, socket: true);
    }

    // ---- shared steps ---------------------------------------------------------------------------------------------

    private static Explanation NoFrontend(Trace trace, ServiceCidrKey4? cidr, bool refuse)
    {
        var request = trace.Request;
        if (cidr is { } range)
        {
            trace.Step("frontend", $"no frontend for {request.DestinationText}, but {request.Destination} is in the Service CIDR {range}: an address no Service claims");
            if (refuse)
                return trace.Finish(ExplainVerdict.Refuse, "connect() fails with ECONNREFUSED", CounterReason.SockRefuseUnknownService);
            return trace.Finish(ExplainVerdict.Reject,
                $"rejected with {(request.Protocol == L4Protocol.Tcp ? "a TCP RST" : "an ICMP port unreachable")} instead of being routed on to hang",
                CounterReason.RejectUnknownService);
        }
        trace.Step("frontend", $"no frontend for {request.DestinationText}, and {request.Destination} is in no Service CIDR: not a Service");
        return refuse
            ? trace.Finish(ExplainVerdict.Pass, "the socket call proceeds untouched", CounterReason.SockPassNoService)
            : trace.Finish(ExplainVerdict.Pass, "passed untouched", CounterReason.PassNoService);
    }

    private static void Describe(Trace trace, FrontendInfo frontend)
    {
        trace.Frontend = frontend;
        var value = frontend.Value;
        var flags = new List<string>
        {
            frontend.Affinity ? $"ClientIP affinity for {frontend.AffinityTimeoutSeconds} s" : "no session affinity",
        };
        if (value.Flags.HasFlag(FrontendFlags.SourceRanges))
            flags.Add("loadBalancerSourceRanges");
        if (value.Flags.HasFlag(FrontendFlags.ExternalLocal))
            flags.Add("externalTrafficPolicy Local");
        if (value.Flags.HasFlag(FrontendFlags.InternalLocal))
            flags.Add("internalTrafficPolicy Local");
        if (Sync.ExternalModes.ModeOf(value.Flags) is { } mode)
            flags.Add($"external mode {Options.ExternalTrafficOptions.Name(mode)} (annotation)");
        trace.Step("frontend", $"{frontend.Key} ({frontend.Kind}{(frontend.Service is { } service ? $" of {service}" : "")}) -> service id {value.ServiceId}, " +
                               $"{value.BackendCount} backend{(value.BackendCount == 1 ? "" : "s")}, {value.LocalCount} node-local, {string.Join(", ", flags)}");
    }

    /// <summary><c>pr_lb_choose4</c> (source ranges, the set, no backends, the client) and <c>pr_choose_backend</c>.</summary>
    private static Explanation Choose(Trace trace, FrontendInfo frontend, IPAddress client, bool clientKnown, bool socket)
    {
        var request = trace.Request;
        var value = frontend.Value;
        var reject = request.Protocol == L4Protocol.Tcp ? "a TCP RST" : "an ICMP port unreachable";

        Explanation NeedsClient(string why)
        {
            trace.Step("client", why);
            return socket
                ? trace.Finish(ExplainVerdict.Pass, "left to the TC path (pr_tc_from_wl sees the packet's source)",
                    value.Flags.HasFlag(FrontendFlags.SourceRanges) ? CounterReason.SockPassSourceRange : CounterReason.SockPassAffinity)
                : trace.Finish(ExplainVerdict.Drop, "dropped: no client address to decide by", CounterReason.DropAffinityNoClient);
        }

        if (value.Flags.HasFlag(FrontendFlags.SourceRanges))
        {
            if (!clientKnown)
                return NeedsClient(socket ? "source ranges, and an unbound socket: only the TC path sees the address the kernel will pick"
                                          : "source ranges need the client, and a packet from 0.0.0.0 names none");
            var allowed = SourceRangeOf(trace.Maps, value.ServiceId, client);
            if (allowed is null)
            {
                trace.Step("source ranges", $"{client} is in none of the Service's loadBalancerSourceRanges (pr_lb_src4)");
                return socket
                    ? trace.Finish(ExplainVerdict.Refuse, "connect() fails with ECONNREFUSED: the client is outside the source ranges", CounterReason.DropSourceRange)
                    : trace.Finish(ExplainVerdict.Drop, "dropped: the client is outside the source ranges", CounterReason.DropSourceRange);
            }
            trace.Step("source ranges", $"{client} is allowed by {allowed}");
        }

        var (set, candidates) = DecideEligibility(trace.Maps, frontend, request);
        trace.Set = set;
        trace.Backends = candidates;
        if (set.Base == NatFrontendValue.LocalOrdinalBase && set.Count == 0)
        {
            trace.Step("backends", $"{set.Name} is empty: no ready endpoint on this node");
            return socket
                ? trace.Finish(ExplainVerdict.Refuse, "connect() fails: traffic policy Local and no local backend", CounterReason.DropNoLocalBackend)
                : trace.Finish(ExplainVerdict.Drop, "dropped (not rejected, as kube-proxy does): traffic policy Local and no local backend", CounterReason.DropNoLocalBackend);
        }
        if (set.Count == 0)
        {
            return socket
                ? trace.Finish(ExplainVerdict.Refuse, "connect() fails with ECONNREFUSED: the Service has no ready backends", CounterReason.SockRefuseNoBackend)
                : trace.Finish(ExplainVerdict.Reject, $"rejected with {reject}: the Service has no ready backends",
                    request.Protocol == L4Protocol.Tcp ? CounterReason.RejectTcpNoBackend : CounterReason.RejectUdpNoBackend);
        }
        if (frontend.Affinity && !clientKnown)
        {
            return NeedsClient(socket ? "ClientIP affinity, and an unbound pod socket: only the TC path sees the address the kernel will pick"
                                      : "ClientIP affinity needs the client, and a packet from 0.0.0.0 names none (0.0.0.0 is the host netns's affinity identity)");
        }

        var eligible = candidates.Where(candidate => candidate.Eligible && candidate.Backend is not null).ToList();
        var missing = candidates.Count(candidate => candidate.Ordinal - set.Base < set.Count && candidate.Ordinal >= set.Base && candidate.Backend is null);
        trace.Step("backends", $"{eligible.Count} of {set.Count} in {set.Name} eligible" +
                               string.Concat(candidates.Select(candidate =>
                                   $"\n#{Ordinal(candidate.Ordinal)} {(candidate.Backend?.ToString() ?? "(none)")}: {(candidate.Eligible ? "eligible" : "not eligible")}, {candidate.Reason}")));

        var hairpin = !socket && request.From == TrafficOrigin.Pod;
        string AfterChoice(NatBackendValue4 backend) => socket
            ? $"connect() goes straight to {backend}: no conntrack entry, no per-packet NAT; replies and getpeername() show {request.DestinationText[..request.DestinationText.LastIndexOf('/')]} (kept in the socket's storage, pr_sk_store4)"
            : $"DNAT to {backend}; a conntrack pair is created, so the flow's later packets follow it" +
              (hairpin && backend.Address.Equals(request.Source)
                  ? $"; the backend is the client itself: hairpin, the source becomes {trace.Maps.Config?.HairpinAddress ?? DataplaneConfig.DefaultHairpinAddress} and the packet goes straight back out of the veth (nat_hairpin)"
                  : "");
        var translated = socket ? CounterReason.SockConnect : CounterReason.NatNewFlow;

        // From outside, with the cluster set: the chosen backend may be on another node, where the external mode applies.
        // (The node-local set of externalTrafficPolicy Local holds this node's backends only.)
        void ExternalModeStep()
        {
            if (socket || request.From != TrafficOrigin.External || set.Base != 0)
                return;
            if (ExternalModeExplainer.Describe(trace.Maps.Config, frontend, request.Protocol, trace.Routes) is not { } described)
                return; // pr_routes4 puts every possible backend on this node
            trace.ExternalMode = described.Info;
            trace.Step("external mode", described.Text);
        }

        if (frontend.Affinity)
        {
            trace.Affinity = AffinityOf(trace.Maps, frontend, set, client, trace.NowNs);
            if (trace.Affinity is { Valid: true } entry)
            {
                trace.Step("affinity", entry.Reason);
                var backend = candidates.First(candidate => candidate.Ordinal == entry.Value.Ordinal).Backend!.Value;
                trace.Choices = [backend];
                if (!socket)
                    RouteStep(trace);
                ExternalModeStep();
                return trace.Finish(ExplainVerdict.Translate,
                    AfterChoice(backend) + $" (chosen by the affinity entry: {(socket ? "sock_affinity_hit" : "affinity_hit")})", translated);
            }
            trace.Step("affinity", trace.Affinity?.Reason ?? $"no affinity entry for client {client}: the backend is chosen at random and remembered for it");
        }

        trace.Choices = eligible.Select(candidate => candidate.Backend!.Value).ToList();
        if (eligible.Count == 0)
        {
            return socket
                ? trace.Finish(ExplainVerdict.Refuse, "connect() fails with ECONNREFUSED: no ordinal of the set has a backend entry", CounterReason.SockRefuseBackendMissing)
                : trace.Finish(ExplainVerdict.Reject, "rejected: no ordinal of the set has a backend entry", CounterReason.RejectBackendMissing);
        }
        var count = set.Count;
        var random = set.Base == 0 ? $"bpf_get_prandom_u32() % {count}" : $"0x{set.Base:x} + bpf_get_prandom_u32() % {count}";
        trace.Step("choice", eligible.Count == 1 && missing == 0
            ? $"the only backend: {eligible[0].Backend}"
            : $"random: {random}, each ordinal 1/{count}: {string.Join(", ", eligible.Select(candidate => candidate.Backend.ToString()))}" +
              (missing > 0 ? $"; {missing}/{count} of the time the ordinal has no entry and the {(socket ? "call is refused" : "packet is rejected")}" : "") +
              (frontend.Affinity ? $"; the choice is remembered for client {client}" : ""));
        if (hairpin && eligible.Count > 1 && eligible.Any(candidate => candidate.Backend!.Value.Address.Equals(request.Source)))
            trace.Step("hairpin", $"if the choice is the client itself, its source becomes {trace.Maps.Config?.HairpinAddress ?? DataplaneConfig.DefaultHairpinAddress} and the packet goes straight back out of the veth (nat_hairpin)");
        if (!socket)
            RouteStep(trace);
        ExternalModeStep();
        var outcome = eligible.Count == 1 && missing == 0
            ? AfterChoice(eligible[0].Backend!.Value)
            : (socket ? "connect() goes straight to one of the backends above, chosen at random; no conntrack entry" : "DNAT to one of the backends above, chosen at random; a conntrack pair is created");
        return trace.Finish(ExplainVerdict.Translate, outcome, translated);
    }

    /// <summary>
    /// For traffic from outside the node: where each possible backend lives, by pr_routes4's longest prefix (the routing
    /// module's map; no entry: local, the kernel routes it), and which node a remote one goes to. How it gets there (the
    /// external service mode) is the next step's (<see cref="ExternalModeExplainer"/>). Nothing is said when the map is empty
    /// (one node, or no Node objects): every backend is then local.
    /// </summary>
    private static void RouteStep(Trace trace)
    {
        if (trace.Request.From != TrafficOrigin.External || trace.Maps.Routes is not { } map)
            return;
        var entries = map.ReadAll();
        if (entries.Count == 0)
            return;
        var routes = trace.Choices.Select(choice => choice.Address).Distinct().Select(address =>
        {
            var entry = Routing.RouteDump.Lookup(entries, address);
            return entry is { Key: var key, Value: var value }
                ? new BackendRoute(address.ToString(), key.ToString(), Routing.RouteDump.Owner(value), value.NodeAddress?.ToString())
                : new BackendRoute(address.ToString(), null, "local", null);
        }).ToList();
        trace.Routes = routes;
        var lines = routes.Select(route => route.Prefix is null
            ? $"{route.Backend}: no entry, on this node (the kernel routes it)"
            : route.Owner == "remote"
                ? $"{route.Backend}: on the node at {route.NodeAddress ?? "(no address)"} ({route.Prefix} remote)"
                : $"{route.Backend}: on this node ({route.Prefix} {route.Owner})");
        var text = routes.Count == 1 ? $"pr_routes4: {lines.Single()}" : "pr_routes4:\n" + string.Join('\n', lines);
        trace.Step("route", text);
    }

    /// <summary>
    /// <c>pr_lb_direct4</c>, which new flows from pods and the socket hooks try before the frontend lookup: the slot of the
    /// destination (ntohl(vip) &amp; pr_config.direct_mask4) when it holds a sealed copy of exactly this frontend, else null
    /// (the table off or not pinned, an empty slot, another frontend's, or a copy whose check fails).
    /// </summary>
    public static (uint Slot, NatDirectEntry4 Entry)? FastPathSlot(ExplainMaps maps, NatFrontendKey4 key)
    {
        ArgumentNullException.ThrowIfNull(maps);
        var mask = maps.Config?.DirectMask4 ?? 0;
        if (maps.Direct is null || mask == 0)
            return null;
        var slot = Sync.DirectSlots.SlotOf(key, mask);
        return maps.Direct.TryLookup(slot, out var entry) && entry.IsSealed && entry.Frontend.Equals(key) ? (slot, entry) : null;
    }

    /// <summary>
    /// The fast path, when the destination's slot holds it: the programs then choose among the slot's copy and never read
    /// the frontend and backend entries the steps below describe. The daemon writes the copy from those entries, so it says
    /// whether they still agree; a copy that does not (drift) is what new flows follow until a sync or the drift check
    /// rewrites it.
    /// </summary>
    private static void FastPathStep(Trace trace, FrontendInfo? frontend)
    {
        if (FastPathSlot(trace.Maps, trace.Request.FrontendKey) is not var (slot, entry))
            return;
        var backends = entry.GetBackends();
        var copy = $"slot {slot} of pr_nat_direct4 holds {entry.Frontend} (service id {entry.ServiceId}) and {backends.Length} " +
                   $"backend{(backends.Length == 1 ? "" : "s")}: {string.Join(", ", backends)}";
        string verdict;
        if (frontend is null)
            verdict = "but pr_nat_fe4 has no such frontend (drift): new flows still take a backend from the slot until a sync or the drift check empties it";
        else if (SameAsHashPath(trace.Maps, frontend, entry, backends))
            verdict = "new flows take one of these at random (nat_direct) without the frontend and backend lookups below, which hold the same";
        else
            verdict = "but the entries below differ from it (drift): new flows take a backend from the slot, not from them, until a sync or the drift check rewrites it";
        trace.Step("fast path", $"{copy}; {verdict}");
    }

    /// <summary>Whether the slot's copy is what the daemon would write from the hash entries: the service id and the cluster set in ordinal order.</summary>
    private static bool SameAsHashPath(ExplainMaps maps, FrontendInfo frontend, NatDirectEntry4 entry, NatBackendValue4[] backends)
    {
        if (entry.ServiceId != frontend.Value.ServiceId || frontend.Value.BackendCount != backends.Length)
            return false;
        for (var i = 0; i < backends.Length; i++)
            if (!maps.Backends.TryLookup(new NatBackendKey(entry.ServiceId, (uint)i), out var backend) || !backend.Equals(backends[i]))
                return false;
        return true;
    }

    private static string Ordinal(uint ordinal) =>
        ordinal >= NatFrontendValue.LocalOrdinalBase ? $"local {ordinal - NatFrontendValue.LocalOrdinalBase}" : ordinal.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The pr_lb_src4 entry that allows <paramref name="client"/> for the id (the LPM lookup with prefix 64), or null.</summary>
    private static string? SourceRangeOf(ExplainMaps maps, uint serviceId, IPAddress client)
    {
        if (maps.SourceRanges is null)
            return null;
        return maps.SourceRanges.ReadAll()
            .Where(entry => entry.Key.ServiceId == serviceId && entry.Key.Range.Contains(client))
            .OrderByDescending(entry => entry.Key.PrefixLength)
            .Select(entry => entry.Key.Range.ToString())
            .FirstOrDefault();
    }

    /// <summary><c>pr_affinity_lookup</c>: the entry of (frontend, client) and whether it still holds.</summary>
    private static AffinityEntry? AffinityOf(ExplainMaps maps, FrontendInfo frontend, BackendSet set, IPAddress client, ulong nowNs)
    {
        var key = new AffinityKey4(frontend.Key, client);
        if (!maps.Affinity.TryLookup(key, out var value))
            return null;
        var idle = nowNs > value.LastUsedNs ? (nowNs - value.LastUsedNs) / NsPerSecond : 0;
        var who = client.Equals(IPAddress.Any) ? "the host" : $"client {client}";
        var at = $"{value.BackendAddress}:{value.BackendPort} (#{Ordinal(value.Ordinal)})";
        if (idle > frontend.AffinityTimeoutSeconds)
            return new(key, value, false, $"the affinity entry of {who} ({at}) expired: idle {idle:F0} s > {frontend.AffinityTimeoutSeconds} s; a new backend is chosen at random", idle);
        if (value.Ordinal < set.Base || value.Ordinal - set.Base >= set.Count)
            return new(key, value, false, $"the affinity entry of {who} points at #{Ordinal(value.Ordinal)}, not in {set.Name} ({set.Count} backends): chosen anew", idle);
        if (!maps.Backends.TryLookup(new NatBackendKey(frontend.Value.ServiceId, value.Ordinal), out var backend)
            || backend.AddressNbo != value.BackendAddressNbo || backend.PortNbo != value.BackendPortNbo)
            return new(key, value, false, $"the affinity entry of {who} remembers {at}, but #{Ordinal(value.Ordinal)} now holds {(maps.Backends.TryLookup(new NatBackendKey(frontend.Value.ServiceId, value.Ordinal), out var now) ? now.ToString() : "nothing")}: the backend set moved, chosen anew", idle);
        return new(key, value, true, $"the affinity entry of {who} holds: {at}, idle {idle:F0} s of {frontend.AffinityTimeoutSeconds} s", idle);
    }

    /// <summary>Conntrack entries of this client and destination, any source port (the key holds one; we do not know it).</summary>
    private static List<TrackedFlow> TrackedFlows(ExplainMaps maps, ExplainRequest request, ulong nowNs) =>
        maps.Conntrack.ReadAll()
            .Where(entry => entry.Key.Source.Equals(request.Source) && entry.Key.Destination.Equals(request.Destination)
                            && entry.Key.DestinationPort == request.Port && entry.Key.L4 == request.Protocol)
            .OrderBy(entry => entry.Key.SourcePort)
            .Select(entry =>
            {
                var idle = nowNs > entry.Value.LastSeenNs ? (nowNs - entry.Value.LastSeenNs) / NsPerSecond : 0;
                return new TrackedFlow(entry.Key, entry.Value, idle > TimeoutSeconds(maps.Config, entry.Key.L4, entry.Value), idle);
            })
            .ToList();

    /// <summary><c>pr_ct_timeout_ns</c>: the idle timeout of an entry, a closed SNATed flow's raised to the backend's TIME_WAIT (<see cref="SnatTimeWait"/>).</summary>
    public static uint TimeoutSeconds(DataplaneConfig? config, L4Protocol protocol, in ConntrackValue4 entry)
    {
        var timeout = TimeoutSeconds(config, protocol, entry.TcpState);
        return protocol == L4Protocol.Tcp && entry.TcpState == ConntrackTcpState.Closed ? SnatTimeWait.ClosedTimeoutSeconds(timeout, entry) : timeout;
    }

    /// <summary><c>pr_ct_timeout_ns</c> by protocol and TCP state: the idle timeout of a flow (pr_config, zero fields: the defaults).</summary>
    public static uint TimeoutSeconds(DataplaneConfig? config, L4Protocol protocol, ConntrackTcpState state)
    {
        static uint Or(uint configured, uint fallback) => configured != 0 ? configured : fallback;
        var c = config ?? default;
        return protocol switch
        {
            L4Protocol.Tcp when state == ConntrackTcpState.SynSent => Or(c.TcpSynTimeoutSeconds, 60),
            L4Protocol.Tcp when state == ConntrackTcpState.Closed => Or(c.TcpClosingTimeoutSeconds, 10),
            L4Protocol.Tcp => Or(c.TcpEstablishedTimeoutSeconds, 21600),
            L4Protocol.Udp => Or(c.UdpTimeoutSeconds, 60),
            _ => Or(c.GenericTimeoutSeconds, 60),
        };
    }

    private static string DescribeFlow(TrackedFlow flow)
    {
        var key = flow.Key;
        var value = flow.Value;
        var state = key.L4 == L4Protocol.Tcp ? $", {value.TcpState.ToString().ToLowerInvariant()}" : "";
        var idle = $"idle {flow.IdleSeconds:F1} s";
        if (flow.Expired)
            return $"source port {key.SourcePort}: {value.Type.ToString().ToLowerInvariant()} entry expired ({idle}{state}): treated as absent, its next packet is balanced anew (ct_expired)";
        if (value.Type == ConntrackType.Reverse)
            return $"source port {key.SourcePort}: a reply of a NATed flow ({idle}{state}): its source is rewritten to {value.NatAddress}:{value.NatPort} (nat_reverse)";
        var reuse = key.L4 == L4Protocol.Tcp && value.TcpState == ConntrackTcpState.Closed ? "; a new SYN on this closed tuple starts a new flow" : "";
        return $"source port {key.SourcePort}: tracked flow to {value.NatAddress}:{value.NatPort} (service id {value.ServiceId}, {idle}{state}" +
               $"{ExternalModeExplainer.FlowText(value)}): " +
               $"its packets are DNATed there (nat_established){reuse}";
    }

    private static ServiceCidrKey4? ServiceCidrOf(ExplainMaps maps, IPAddress address)
    {
        var bits = Ipv4.ToNbo(address);
        ServiceCidrKey4? best = null;
        foreach (var (key, _) in maps.ServiceCidrs.ReadAll())
        {
            var mask = key.PrefixLength == 0 ? 0u : System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(uint.MaxValue << (int)(32 - key.PrefixLength));
            if ((bits & mask) == (key.AddressNbo & mask) && (best is null || key.PrefixLength > best.Value.PrefixLength))
                best = key;
        }
        return best;
    }

    private static string Proto(ExplainRequest request) => request.Protocol.ToString().ToUpperInvariant();

    private static string Name(SocketLbMode mode) => mode.ToString().ToLowerInvariant();

    /// <summary>The explanation as it is built.</summary>
    private sealed class Trace(ExplainMaps maps, ExplainRequest request, ulong nowNs)
    {
        private readonly List<ExplainStep> _steps = [];
        public ExplainMaps Maps { get; } = maps;
        public ExplainRequest Request { get; } = request;
        public ulong NowNs { get; } = nowNs;
        public string Program { get; set; } = "";
        public FrontendInfo? Frontend { get; set; }
        public BackendSet? Set { get; set; }
        public IReadOnlyList<BackendCandidate> Backends { get; set; } = [];
        public IReadOnlyList<TrackedFlow> Flows { get; set; } = [];
        public AffinityEntry? Affinity { get; set; }
        public IReadOnlyList<NatBackendValue4> Choices { get; set; } = [];
        public IReadOnlyList<BackendRoute> Routes { get; set; } = [];
        public ExternalModeInfo? ExternalMode { get; set; }

        public void Step(string name, string text) => _steps.Add(new ExplainStep(name, text));

        public Explanation Finish(ExplainVerdict verdict, string outcome, CounterReason? counter) =>
            new(Request, Program, _steps, verdict, outcome, counter, Frontend, Set, Backends, Flows, Affinity, Choices, Routes, ExternalMode);
    }
}
