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
}
