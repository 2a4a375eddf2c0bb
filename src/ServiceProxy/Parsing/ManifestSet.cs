using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>What a set of manifests held: the valid objects, and a diagnostic per skipped one.</summary>
public sealed record ManifestSet(
    IReadOnlyList<Service> Services,
    IReadOnlyList<EndpointSlice> EndpointSlices,
    IReadOnlyList<ManifestDiagnostic> Diagnostics);
