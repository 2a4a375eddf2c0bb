using System.Net;

namespace ProxyReplacement.ServiceProxy.Model;

public enum ServiceType
{
    ClusterIP,
    NodePort,
    LoadBalancer,
}

public enum SessionAffinity
{
    None,
    ClientIP,
}

public enum TrafficPolicy
{
    Cluster,
    Local,
}

/// <summary>
/// The port a Service port forwards to: a number, or the name of a container port that each
/// EndpointSlice resolves (the slice port carrying the Service port's name).
/// </summary>
public sealed record TargetPort
{
    private TargetPort(int? number, string? name)
    {
        Number = number;
        Name = name;
    }

    public int? Number { get; }
    public string? Name { get; }

    public static TargetPort FromNumber(int number) => new(number, null);
    public static TargetPort FromName(string name) => new(null, name);

    public override string ToString() => Number?.ToString() ?? Name!;
}

/// <summary>
/// How a load balancer delivers traffic for one of its ingress IPs (KEP-1860): <see cref="Vip"/> (the default) sends
/// packets with the LB IP as destination, so the proxy serves that IP on every node and short-circuits it inside
/// the cluster; <see cref="Proxy"/> terminates or rewrites them at the load balancer, so traffic to that IP must go
/// out to the load balancer and the proxy programs nothing for it.
/// </summary>
public enum LoadBalancerIPMode
{
    Vip,
    Proxy,
}

/// <summary>One IP of <c>status.loadBalancer.ingress</c> (hostname-only entries are not kept: nothing to program).</summary>
public sealed record LoadBalancerIngress(IPAddress Ip, LoadBalancerIPMode IPMode = LoadBalancerIPMode.Vip)
{
    public override string ToString() => IPMode == LoadBalancerIPMode.Vip ? Ip.ToString() : $"{Ip} (ipMode Proxy)";
}

/// <summary>One entry of <c>spec.ports</c>. <see cref="Name"/> is "" when the port is unnamed.</summary>
public sealed record ServicePort(string Name, Protocol Protocol, int Port, TargetPort TargetPort, int? NodePort = null)
{
    public override string ToString() => $"{(Name.Length > 0 ? Name + " " : "")}{Port}/{Protocol} -> {TargetPort}";
}

/// <summary>
/// A proxied Service: one with at least one cluster IP. Headless and ExternalName Services are
/// never turned into this record.
/// </summary>
public sealed record Service(
    string Namespace,
    string Name,
    Labels Labels,
    ServiceType Type,
    AddressList ClusterIPs,
    EquatableList<ServicePort> Ports,
    SessionAffinity SessionAffinity = SessionAffinity.None,
    int SessionAffinityTimeoutSeconds = Service.DefaultSessionAffinityTimeoutSeconds,
    TrafficPolicy InternalTrafficPolicy = TrafficPolicy.Cluster,
    TrafficPolicy ExternalTrafficPolicy = TrafficPolicy.Cluster,
    EquatableList<IPAddress>? ExternalIPs = null,
    EquatableList<LoadBalancerIngress>? LoadBalancerIngress = null,
    EquatableList<IPNetwork>? LoadBalancerSourceRanges = null,
    int? HealthCheckNodePort = null,
    string? TrafficDistribution = null,
    string? ExternalServiceMode = null)
{
    /// <summary><c>spec.externalIPs</c>, as written (the Syncer reports and skips addresses it cannot serve).</summary>
    public EquatableList<IPAddress> ExternalIPs { get; init; } = ExternalIPs ?? EquatableList<IPAddress>.Empty;

    /// <summary>The IPs of <c>status.loadBalancer.ingress</c> with their <c>ipMode</c>.</summary>
    public EquatableList<LoadBalancerIngress> LoadBalancerIngress { get; init; } = LoadBalancerIngress ?? EquatableList<LoadBalancerIngress>.Empty;

    /// <summary>
    /// <c>spec.loadBalancerSourceRanges</c> (or, when that is empty, the
    /// <c>service.beta.kubernetes.io/load-balancer-source-ranges</c> annotation, as kube-proxy reads it): when not empty,
    /// traffic to the LoadBalancer IPs from other sources is dropped.
    /// </summary>
    public EquatableList<IPNetwork> LoadBalancerSourceRanges { get; init; } = LoadBalancerSourceRanges ?? EquatableList<IPNetwork>.Empty;

    /// <summary>The annotation kube-proxy reads when <c>spec.loadBalancerSourceRanges</c> is empty.</summary>
    public const string SourceRangesAnnotation = "service.beta.kubernetes.io/load-balancer-source-ranges";

    /// <summary>
    /// Ours: the external service mode of this Service (snat, tunnel or dsr) instead of the node's
    /// <c>--external-service-mode</c>. <see cref="ExternalServiceMode"/> holds its value as written (null: absent); the
    /// Syncer reads it (<c>Sync/ExternalModes</c>), so that a bad value is reported and the Service still programmed.
    /// </summary>
    public const string ExternalServiceModeAnnotation = "proxy-replacement.io/external-service-mode";

    /// <summary>Kubernetes' default for <c>sessionAffinityConfig.clientIP.timeoutSeconds</c> (3 hours).</summary>
    public const int DefaultSessionAffinityTimeoutSeconds = 10800;

    public ObjectKey Key => new(Namespace, Name);
}
