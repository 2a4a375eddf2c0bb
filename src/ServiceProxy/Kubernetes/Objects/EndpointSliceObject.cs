namespace ProxyReplacement.ServiceProxy.Kubernetes.Objects;

/// <summary>A <c>discovery.k8s.io/v1 EndpointSlice</c> on the wire (the fields the proxy reads).</summary>
public sealed record EndpointSliceObject : IKubernetesObject
{
    public string? ApiVersion { get; init; }
    public string? Kind { get; init; }
    public ObjectMeta? Metadata { get; init; }
    public string? AddressType { get; init; }
    public List<EndpointSpec?>? Endpoints { get; init; }
    public List<EndpointPortSpec?>? Ports { get; init; }
}

public sealed record EndpointSpec
{
    public List<string?>? Addresses { get; init; }
    public EndpointConditionsSpec? Conditions { get; init; }
    public string? NodeName { get; init; }
    public string? Zone { get; init; }
    public EndpointHintsSpec? Hints { get; init; }
}

public sealed record EndpointHintsSpec
{
    public List<NamedHintSpec?>? ForZones { get; init; }
    public List<NamedHintSpec?>? ForNodes { get; init; }
}

public sealed record NamedHintSpec
{
    public string? Name { get; init; }
}

public sealed record EndpointConditionsSpec
{
    public bool? Ready { get; init; }
    public bool? Serving { get; init; }
    public bool? Terminating { get; init; }
}

public sealed record EndpointPortSpec
{
    public string? Name { get; init; }
    public string? Protocol { get; init; }
    public int? Port { get; init; }
}
