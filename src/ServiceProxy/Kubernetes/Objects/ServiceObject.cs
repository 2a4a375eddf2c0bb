namespace ProxyReplacement.ServiceProxy.Kubernetes.Objects;

/// <summary>A <c>v1 Service</c> on the wire (the fields the proxy reads).</summary>
public sealed record ServiceObject : IKubernetesObject
{
    public string? ApiVersion { get; init; }
    public string? Kind { get; init; }
    public ObjectMeta? Metadata { get; init; }
    public ServiceSpec? Spec { get; init; }
    public ServiceStatusSpec? Status { get; init; }
}

public sealed record ServiceStatusSpec
{
    public LoadBalancerStatusSpec? LoadBalancer { get; init; }
}

public sealed record LoadBalancerStatusSpec
{
    public List<LoadBalancerIngressSpec?>? Ingress { get; init; }
}

public sealed record LoadBalancerIngressSpec
{
    public string? Ip { get; init; }
    public string? Hostname { get; init; }
    public string? IpMode { get; init; }
}

public sealed record ServiceSpec
{
    public string? Type { get; init; }
    public string? ClusterIP { get; init; }
    public List<string?>? ClusterIPs { get; init; }
    public List<ServicePortSpec?>? Ports { get; init; }
    public string? SessionAffinity { get; init; }
    public SessionAffinityConfigSpec? SessionAffinityConfig { get; init; }
    public string? InternalTrafficPolicy { get; init; }
    public string? ExternalTrafficPolicy { get; init; }
    public List<string?>? ExternalIPs { get; init; }
    public List<string?>? LoadBalancerSourceRanges { get; init; }
    public int? HealthCheckNodePort { get; init; }
    public string? TrafficDistribution { get; init; }
}

public sealed record ServicePortSpec
{
    public string? Name { get; init; }
    public string? Protocol { get; init; }
    public int? Port { get; init; }
    public IntOrString? TargetPort { get; init; }
    public int? NodePort { get; init; }
}

public sealed record SessionAffinityConfigSpec
{
    public ClientIPConfigSpec? ClientIP { get; init; }
}

public sealed record ClientIPConfigSpec
{
    public int? TimeoutSeconds { get; init; }
}
