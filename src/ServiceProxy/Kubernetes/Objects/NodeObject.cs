namespace ProxyReplacement.ServiceProxy.Kubernetes.Objects;

/// <summary>A <c>v1 Node</c> on the wire: its name, labels (zone) and addresses.</summary>
public sealed record NodeObject : IKubernetesObject
{
    public string? ApiVersion { get; init; }
    public string? Kind { get; init; }
    public ObjectMeta? Metadata { get; init; }
    public NodeSpec? Spec { get; init; }
    public NodeStatusSpec? Status { get; init; }
}

public sealed record NodeSpec
{
    public string? PodCIDR { get; init; }
    public List<string?>? PodCIDRs { get; init; }
    public List<NodeTaintSpec?>? Taints { get; init; }
}

public sealed record NodeTaintSpec
{
    public string? Key { get; init; }
    public string? Value { get; init; }
    public string? Effect { get; init; }
}

public sealed record NodeStatusSpec
{
    public List<NodeAddressSpec?>? Addresses { get; init; }
}

public sealed record NodeAddressSpec
{
    public string? Type { get; init; }
    public string? Address { get; init; }
}
