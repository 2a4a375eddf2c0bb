using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>What a set of manifests held: the valid objects, and a diagnostic per skipped one.</summary>
public sealed record ManifestSet(
    IReadOnlyList<Service> Services,
    IReadOnlyList<EndpointSlice> EndpointSlices,
    IReadOnlyList<ManifestDiagnostic> Diagnostics,
    IReadOnlyList<Node>? Nodes = null)
{
    /// <summary>The <c>v1 Node</c> objects (cluster-scoped: their names, zone labels, addresses, pod CIDRs and taints).</summary>
    public IReadOnlyList<Node> Nodes { get; init; } = Nodes ?? [];

    /// <summary>Pods, Namespaces and NetworkPolicies (the policy module's inputs; empty when the reader was told not to read them).</summary>
    public IReadOnlyList<Pod> Pods { get; init; } = [];
    public IReadOnlyList<PodNamespace> Namespaces { get; init; } = [];
    public IReadOnlyList<NetworkPolicy> NetworkPolicies { get; init; } = [];

    /// <summary>Whether the set holds any object of the policy module's kinds (or a diagnostic about one).</summary>
    public bool HasPolicyInputs => Pods.Count > 0 || Namespaces.Count > 0 || NetworkPolicies.Count > 0 ||
        Diagnostics.Any(d => d.Kind is "Pod" or "Namespace" or "NetworkPolicy");
}
