using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Cli.Explain;

/// <summary>What the dataplane does with the packet or socket call in the end.</summary>
public enum ExplainVerdict
{
    /// <summary>Not a Service: untouched (TC_ACT_OK without a rewrite, or the socket call proceeds as asked).</summary>
    Pass,
    /// <summary>Sent to a backend: DNAT (TC) or the socket call's address rewritten (connect-time).</summary>
    Translate,
    /// <summary>Answered at once: a TCP RST or an ICMP port unreachable.</summary>
    Reject,
    /// <summary>connect()/sendmsg() fails with ECONNREFUSED (EPERM with the compat build).</summary>
    Refuse,
    /// <summary>Dropped, with a counter saying why.</summary>
    Drop,
}

/// <summary>One step of the explanation, in the order the program takes them.</summary>
public sealed record ExplainStep(string Name, string Text);

/// <summary>
/// The frontend a destination matched, as <see cref="PacketExplainer.ReadFrontend"/> reads it: the entry point it is
/// (ClusterIP, NodePort, LoadBalancer, ExternalIP) and the Service port it belongs to (pr_svc_names), when known.
/// </summary>
public sealed record FrontendInfo(NatFrontendKey4 Key, NatFrontendValue Value, string Kind, string? Service = null)
{
    public bool Affinity => Value.Flags.HasFlag(FrontendFlags.Affinity);

    /// <summary>The affinity timeout the dataplane applies (the frontend's, or Kubernetes' default of 3 hours).</summary>
    public uint AffinityTimeoutSeconds => Value.AffinityTimeoutSeconds != 0 ? Value.AffinityTimeoutSeconds : PacketExplainer.DefaultAffinityTimeoutSeconds;
}

/// <summary>The backends a choice is made from (<c>struct pr_backend_set</c>): ordinals [Base, Base + Count).</summary>
public sealed record BackendSet(uint Base, uint Count, string Name);

/// <summary>One backend ordinal of a frontend and whether the choice may land on it.</summary>
/// <param name="Backend">The backend map's entry; null when the ordinal is counted but absent (a choice of it is rejected).</param>
/// <param name="Eligible">Whether the random choice may pick it.</param>
/// <param name="Reason">Why (not), in words.</param>
public sealed record BackendCandidate(uint Ordinal, NatBackendValue4? Backend, bool Eligible, string Reason);

/// <summary>A conntrack entry of the same client and destination (any source port).</summary>
public sealed record TrackedFlow(ConntrackKey4 Key, ConntrackValue4 Value, bool Expired, double IdleSeconds);

/// <summary>The affinity entry of this client for this frontend, and whether the dataplane would use it.</summary>
public sealed record AffinityEntry(AffinityKey4 Key, AffinityValue4 Value, bool Valid, string Reason, double IdleSeconds);

/// <summary>Where a chosen backend lives, by pr_routes4 (external traffic only).</summary>
/// <param name="Prefix">The longest prefix holding the backend's address, or null when none does (local).</param>
/// <param name="Owner">"local" or "remote".</param>
/// <param name="NodeAddress">The owning node's address (a remote backend's packets go there).</param>
public sealed record BackendRoute(string Backend, string? Prefix, string Owner, string? NodeAddress);

/// <summary>
/// The external service mode a frontend uses for a packet from outside whose backend is on another node, and where it comes
/// from: "annotation" (the Service's, a PR_FE_F_MODE_* flag), "default" (pr_config, --external-service-mode) or "unwritten".
/// </summary>
public sealed record ExternalModeInfo(string Mode, string Source);

public sealed record Explanation(
    ExplainRequest Request,
    string Program,
    IReadOnlyList<ExplainStep> Steps,
    ExplainVerdict Verdict,
    string Outcome,
    CounterReason? Counter,
    FrontendInfo? Frontend,
    BackendSet? Set,
    IReadOnlyList<BackendCandidate> Backends,
    IReadOnlyList<TrackedFlow> Flows,
    AffinityEntry? Affinity,
    IReadOnlyList<NatBackendValue4> Choices,
    IReadOnlyList<BackendRoute>? Routes = null,
    ExternalModeInfo? ExternalMode = null)
{
    /// <summary>Where each possible choice lives (pr_routes4), for traffic from outside the node; empty otherwise or without routes.</summary>
    public IReadOnlyList<BackendRoute> Routes { get; init; } = Routes ?? [];
}
