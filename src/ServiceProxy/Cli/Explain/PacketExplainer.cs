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
/// selection extend them alone: <see cref="ReadFrontend"/> (the frontend map entry and the Service CIDR around it)
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
    /// <c>pr_lb_frontend4</c>: the frontend of the destination, or null with the Service CIDR that holds the address (a
    /// reject) or null (not a Service). ABI v1 frontends are all ClusterIP.
    /// </summary>
    public static (FrontendInfo? Frontend, ServiceCidrKey4? Cidr) ReadFrontend(ExplainMaps maps, NatFrontendKey4 key)
    {
        ArgumentNullException.ThrowIfNull(maps);
        if (maps.Frontends.TryLookup(key, out var value))
            return (new FrontendInfo(key, value, "ClusterIP"), null);
        return (null, ServiceCidrOf(maps, key.Vip));
    }

    /// <summary>
    /// Which backend ordinals the choice may land on. The dataplane picks <c>random % backend_count</c>, so every counted
    /// ordinal [0, count) is a candidate; one without a backend entry is one whose choice is rejected
    /// (<c>PR_LB_BACKEND_MISSING</c>). Entries at or past the count are not counted (being added or removed).
    /// </summary>
    public static IReadOnlyList<BackendCandidate> DecideEligibility(ExplainMaps maps, FrontendInfo frontend, ExplainRequest request)
    {
        ArgumentNullException.ThrowIfNull(maps);
        ArgumentNullException.ThrowIfNull(frontend);
        var count = frontend.Value.BackendCount;
        var present = maps.Backends.ReadAll()
            .Where(entry => entry.Key.ServiceId == frontend.Value.ServiceId)
            .ToDictionary(entry => entry.Key.Ordinal, entry => entry.Value);
        var candidates = new List<BackendCandidate>();
        for (uint ordinal = 0; ordinal < count; ordinal++)
        {
            candidates.Add(present.TryGetValue(ordinal, out var backend)
                ? new BackendCandidate(ordinal, backend, true, "counted by the frontend")
                : new BackendCandidate(ordinal, null, false, "counted, but no backend entry: a choice of it is rejected"));
        }
        foreach (var (ordinal, backend) in present.Where(pair => pair.Key >= count).OrderBy(pair => pair.Key))
            candidates.Add(new BackendCandidate(ordinal, backend, false, $"not counted (the frontend counts {count}): being added or removed"));
        return candidates;
    }

    // ---- the programs ---------------------------------------------------------------------------------------------

    private static Explanation FromPod(Trace trace)
    {
        var request = trace.Request;
        trace.Program = "pr_tc_from_wl (TC ingress on the pod's host-side veth)";
        trace.Step("packet", $"IPv4 {Proto(request)} {request.Source} -> {request.DestinationText}");

        trace.Flows = TrackedFlows(trace.Maps, request, trace.NowNs);
        if (trace.Flows.Count == 0)
            trace.Step("conntrack", $"no tracked flow from {request.Source} to {request.DestinationText} (any source port): the packet starts a new flow");
        foreach (var flow in trace.Flows)
            trace.Step("conntrack", DescribeFlow(flow));
        if (trace.Flows.Count > 0)
            trace.Step("conntrack", "a packet from any other source port starts a new flow:");

        var (frontend, cidr) = ReadFrontend(trace.Maps, request.FrontendKey);
        if (frontend is null)
            return NoFrontend(trace, cidr, refuse: false);
        Describe(trace, frontend);
        var reject = request.Protocol == L4Protocol.Tcp ? "a TCP RST" : "an ICMP port unreachable";
        if (frontend.Value.BackendCount == 0)
        {
            return trace.Finish(ExplainVerdict.Reject, $"rejected with {reject}: the Service has no ready backends",
                request.Protocol == L4Protocol.Tcp ? CounterReason.RejectTcpNoBackend : CounterReason.RejectUdpNoBackend);
        }
        if (frontend.Affinity && request.Source.Equals(IPAddress.Any))
        {
            trace.Step("affinity", "ClientIP affinity needs the client, and a packet from 0.0.0.0 names none (0.0.0.0 is the host netns's affinity identity)");
            return trace.Finish(ExplainVerdict.Drop, "dropped: no client address to key the affinity by", CounterReason.DropAffinityNoClient);
        }
        return Choose(trace, frontend, request.Source, socket: false);
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
        if (frontend is null)
            return NoFrontend(trace, cidr, refuse: true);
        Describe(trace, frontend);

        var hostCookie = trace.Maps.HostNetnsCookie ?? 0;
        var client = request.Source;
        var clientKnown = !client.Equals(IPAddress.Any);
        if (hostCookie != 0)
        {
            trace.Step("client", $"the socket is in the host network namespace (pr_host_netns cookie {hostCookie}): its affinity client is the node, 0.0.0.0");
            client = IPAddress.Any;
            clientKnown = true;
        }
        else
        {
            trace.Step("client", "pr_host_netns holds no cookie: the hooks treat every socket as a pod's, keyed by its bound address");
        }
        if (frontend.Value.BackendCount == 0)
            return trace.Finish(ExplainVerdict.Refuse, "connect() fails with ECONNREFUSED: the Service has no ready backends", CounterReason.SockRefuseNoBackend);
        if (frontend.Affinity && !clientKnown)
        {
            trace.Step("affinity", "ClientIP affinity, and an unbound pod socket: only the TC path sees the address the kernel will pick");
            return trace.Finish(ExplainVerdict.Pass, "left to the TC path (pr_tc_from_wl balances it by the packet's source)", CounterReason.SockPassAffinity);
        }
        return Choose(trace, frontend, client, socket: true);
    }

    private static Explanation FromExternal(Trace trace)
    {
        var request = trace.Request;
        trace.Program = "none: this dataplane (map ABI v1) has no program on the host data interfaces";
        trace.Step("packet", $"IPv4 {Proto(request)} {request.Source} -> {request.DestinationText}, arriving on a host interface");
        var (frontend, _) = ReadFrontend(trace.Maps, request.FrontendKey);
        if (frontend is not null)
        {
            Describe(trace, frontend);
            trace.Step("kind", $"a {frontend.Kind} frontend serves clients inside the cluster (pods, and the host through the socket hooks), not external traffic");
        }
        else
        {
            trace.Step("frontend", $"no frontend for {request.DestinationText}");
        }
        return trace.Finish(ExplainVerdict.Pass, "not translated: the kernel routes the packet as it is", null);
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
        trace.Step("frontend", $"{frontend.Key} ({frontend.Kind}) -> service id {value.ServiceId}, {value.BackendCount} backend{(value.BackendCount == 1 ? "" : "s")}, " +
                               (frontend.Affinity ? $"ClientIP affinity for {frontend.AffinityTimeoutSeconds} s" : "no session affinity"));
    }

    /// <summary><c>pr_lb_choose4</c> from the backend list on: eligibility, then affinity, then the random choice.</summary>
    private static Explanation Choose(Trace trace, FrontendInfo frontend, IPAddress client, bool socket)
    {
        var request = trace.Request;
        trace.Backends = DecideEligibility(trace.Maps, frontend, request);
        var eligible = trace.Backends.Where(candidate => candidate.Eligible && candidate.Backend is not null).ToList();
        var missing = trace.Backends.Count(candidate => candidate.Ordinal < frontend.Value.BackendCount && candidate.Backend is null);
        trace.Step("backends", $"{eligible.Count} of {frontend.Value.BackendCount} counted eligible" +
                               string.Concat(trace.Backends.Select(candidate =>
                                   $"\n#{candidate.Ordinal} {(candidate.Backend?.ToString() ?? "(none)")}: {(candidate.Eligible ? "eligible" : "not eligible")}, {candidate.Reason}")));

        string AfterChoice(NatBackendValue4 backend) => socket
            ? $"connect() goes straight to {backend}: no conntrack entry, no per-packet NAT; replies and getpeername() show {request.DestinationText[..request.DestinationText.LastIndexOf('/')]} (pr_sk_rev4)"
            : $"DNAT to {backend}; a conntrack pair is created, so the flow's later packets follow it";
        var translated = socket ? CounterReason.SockConnect : CounterReason.NatNewFlow;

        if (frontend.Affinity)
        {
            trace.Affinity = AffinityOf(trace.Maps, frontend, client, trace.NowNs);
            if (trace.Affinity is { Valid: true } entry)
            {
                trace.Step("affinity", entry.Reason);
                var backend = trace.Backends.First(candidate => candidate.Ordinal == entry.Value.Ordinal).Backend!.Value;
                trace.Choices = [backend];
                return trace.Finish(ExplainVerdict.Translate,
                    AfterChoice(backend) + $" (chosen by the affinity entry: {(socket ? "sock_affinity_hit" : "affinity_hit")})", translated);
            }
            trace.Step("affinity", trace.Affinity?.Reason ?? $"no affinity entry for client {client}: the backend is chosen at random and remembered for it");
        }

        trace.Choices = eligible.Select(candidate => candidate.Backend!.Value).ToList();
        if (eligible.Count == 0)
        {
            return socket
                ? trace.Finish(ExplainVerdict.Refuse, "connect() fails with ECONNREFUSED: no counted ordinal has a backend entry", CounterReason.SockRefuseBackendMissing)
                : trace.Finish(ExplainVerdict.Reject, "rejected: no counted ordinal has a backend entry", CounterReason.RejectBackendMissing);
        }
        var count = frontend.Value.BackendCount;
        trace.Step("choice", eligible.Count == 1 && missing == 0
            ? $"the only backend: {eligible[0].Backend}"
            : $"random: bpf_get_prandom_u32() % {count}, each ordinal 1/{count}: {string.Join(", ", eligible.Select(candidate => candidate.Backend.ToString()))}" +
              (missing > 0 ? $"; {missing}/{count} of the time the ordinal has no entry and the {(socket ? "call is refused" : "packet is rejected")}" : "") +
              (frontend.Affinity ? $"; the choice is remembered for client {client}" : ""));
        var outcome = eligible.Count == 1 && missing == 0
            ? AfterChoice(eligible[0].Backend!.Value)
            : (socket ? "connect() goes straight to one of the backends above, chosen at random; no conntrack entry" : "DNAT to one of the backends above, chosen at random; a conntrack pair is created");
        return trace.Finish(ExplainVerdict.Translate, outcome, translated);
    }

    /// <summary><c>pr_affinity_lookup</c>: the entry of (frontend, client) and whether it still holds.</summary>
    private static AffinityEntry? AffinityOf(ExplainMaps maps, FrontendInfo frontend, IPAddress client, ulong nowNs)
    {
        var key = new AffinityKey4(frontend.Key, client);
        if (!maps.Affinity.TryLookup(key, out var value))
            return null;
        var idle = nowNs > value.LastUsedNs ? (nowNs - value.LastUsedNs) / NsPerSecond : 0;
        var who = client.Equals(IPAddress.Any) ? "the host" : $"client {client}";
        var at = $"{value.BackendAddress}:{value.BackendPort} (#{value.Ordinal})";
        if (idle > frontend.AffinityTimeoutSeconds)
            return new(key, value, false, $"the affinity entry of {who} ({at}) expired: idle {idle:F0} s > {frontend.AffinityTimeoutSeconds} s; a new backend is chosen at random", idle);
        if (value.Ordinal >= frontend.Value.BackendCount)
            return new(key, value, false, $"the affinity entry of {who} points at #{value.Ordinal}, no longer counted ({frontend.Value.BackendCount} backends): chosen anew", idle);
        if (!maps.Backends.TryLookup(new NatBackendKey(frontend.Value.ServiceId, value.Ordinal), out var backend)
            || backend.AddressNbo != value.BackendAddressNbo || backend.PortNbo != value.BackendPortNbo)
            return new(key, value, false, $"the affinity entry of {who} remembers {at}, but #{value.Ordinal} now holds {(maps.Backends.TryLookup(new NatBackendKey(frontend.Value.ServiceId, value.Ordinal), out var now) ? now.ToString() : "nothing")}: the backend set moved, chosen anew", idle);
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
                return new TrackedFlow(entry.Key, entry.Value, idle > TimeoutSeconds(maps.Config, entry.Key.L4, entry.Value.TcpState), idle);
            })
            .ToList();

    /// <summary><c>pr_ct_timeout_ns</c>: the idle timeout of a flow (pr_config, zero fields: the defaults).</summary>
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
        return $"source port {key.SourcePort}: tracked flow to {value.NatAddress}:{value.NatPort} (service id {value.ServiceId}, {idle}{state}): " +
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
        public IReadOnlyList<BackendCandidate> Backends { get; set; } = [];
        public IReadOnlyList<TrackedFlow> Flows { get; set; } = [];
        public AffinityEntry? Affinity { get; set; }
        public IReadOnlyList<NatBackendValue4> Choices { get; set; } = [];

        public void Step(string name, string text) => _steps.Add(new ExplainStep(name, text));

        public Explanation Finish(ExplainVerdict verdict, string outcome, CounterReason? counter) =>
            new(Request, Program, _steps, verdict, outcome, counter, Frontend, Backends, Flows, Affinity, Choices);
    }
}
