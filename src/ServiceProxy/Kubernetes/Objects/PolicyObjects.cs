using k8s.Models;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Objects;

/// <summary>
/// A <c>v1 Pod</c> on the wire. Unlike the Service and Node records, the spec and status are the package's models,
/// handed over as decoded (a pod's spec is large and the rules read four fields of it: mapping it field by field would
/// cost more code than it saves; the record lives only until <see cref="Parsing.PodRules"/> has read it).
/// </summary>
public sealed record PodObject : IKubernetesObject
{
    public string? ApiVersion { get; init; }
    public string? Kind { get; init; }
    public ObjectMeta? Metadata { get; init; }
    public V1PodSpec? Spec { get; init; }
    public V1PodStatus? Status { get; init; }
}

/// <summary>A <c>v1 Namespace</c> on the wire: its metadata (name and labels) is all the proxy reads.</summary>
public sealed record NamespaceObject : IKubernetesObject
{
    public string? ApiVersion { get; init; }
    public string? Kind { get; init; }
    public ObjectMeta? Metadata { get; init; }
}

/// <summary>A <c>networking.k8s.io/v1 NetworkPolicy</c> on the wire (the spec as the package's model: see <see cref="PodObject"/>).</summary>
public sealed record NetworkPolicyObject : IKubernetesObject
{
    public string? ApiVersion { get; init; }
    public string? Kind { get; init; }
    public ObjectMeta? Metadata { get; init; }
    public V1NetworkPolicySpec? Spec { get; init; }
}
