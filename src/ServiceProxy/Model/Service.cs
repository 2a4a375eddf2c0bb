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
/// Held in 80 bytes: the fields that nearly every Service leaves at their defaults (affinity, traffic policies, external
/// IPs, load balancer fields, traffic distribution, the external service mode) sit in one <see cref="ServiceExtras"/>,
/// shared by every Service that has them all at their defaults (as their own fields they made a Service 136 bytes:
/// 5.6 MB more at 100k Services). Equality is by value, as before.
/// </summary>
public sealed record Service
{
    private readonly ServiceExtras _extras;

    public Service(
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
        this.Namespace = Namespace;
        this.Name = Name;
        this.Labels = Labels;
        this.Type = Type;
        this.ClusterIPs = ClusterIPs;
        this.Ports = Ports;
        _extras = ServiceExtras.Of(new ServiceExtras(SessionAffinity, SessionAffinityTimeoutSeconds, InternalTrafficPolicy, ExternalTrafficPolicy,
            ExternalIPs ?? EquatableList<IPAddress>.Empty, LoadBalancerIngress ?? EquatableList<LoadBalancerIngress>.Empty,
            LoadBalancerSourceRanges ?? EquatableList<IPNetwork>.Empty, HealthCheckNodePort, TrafficDistribution, ExternalServiceMode));
    }

    public string Namespace { get; init; }
    public string Name { get; init; }
    public Labels Labels { get; init; }
    public ServiceType Type { get; init; }
    public AddressList ClusterIPs { get; init; }
    public EquatableList<ServicePort> Ports { get; init; }

    public SessionAffinity SessionAffinity
    {
        get => _extras.SessionAffinity;
        init => _extras = ServiceExtras.Of(_extras with { SessionAffinity = value });
    }

    public int SessionAffinityTimeoutSeconds
    {
        get => _extras.SessionAffinityTimeoutSeconds;
        init => _extras = ServiceExtras.Of(_extras with { SessionAffinityTimeoutSeconds = value });
    }

    public TrafficPolicy InternalTrafficPolicy
    {
        get => _extras.InternalTrafficPolicy;
        init => _extras = ServiceExtras.Of(_extras with { InternalTrafficPolicy = value });
    }

    public TrafficPolicy ExternalTrafficPolicy
    {
        get => _extras.ExternalTrafficPolicy;
        init => _extras = ServiceExtras.Of(_extras with { ExternalTrafficPolicy = value });
    }

    /// <summary><c>spec.externalIPs</c>, as written (the Syncer reports and skips addresses it cannot serve).</summary>
    public EquatableList<IPAddress> ExternalIPs
    {
        get => _extras.ExternalIPs;
        init => _extras = ServiceExtras.Of(_extras with { ExternalIPs = value ?? EquatableList<IPAddress>.Empty });
    }

    /// <summary>The IPs of <c>status.loadBalancer.ingress</c> with their <c>ipMode</c>.</summary>
    public EquatableList<LoadBalancerIngress> LoadBalancerIngress
    {
        get => _extras.LoadBalancerIngress;
        init => _extras = ServiceExtras.Of(_extras with { LoadBalancerIngress = value ?? EquatableList<LoadBalancerIngress>.Empty });
    }

    /// <summary>
    /// <c>spec.loadBalancerSourceRanges</c> (or, when that is empty, the
    /// <c>service.beta.kubernetes.io/load-balancer-source-ranges</c> annotation, as kube-proxy reads it): when not empty,
    /// traffic to the LoadBalancer IPs from other sources is dropped.
    /// </summary>
    public EquatableList<IPNetwork> LoadBalancerSourceRanges
    {
        get => _extras.LoadBalancerSourceRanges;
        init => _extras = ServiceExtras.Of(_extras with { LoadBalancerSourceRanges = value ?? EquatableList<IPNetwork>.Empty });
    }

    public int? HealthCheckNodePort
    {
        get => _extras.HealthCheckNodePort;
        init => _extras = ServiceExtras.Of(_extras with { HealthCheckNodePort = value });
    }

    public string? TrafficDistribution
    {
        get => _extras.TrafficDistribution;
        init => _extras = ServiceExtras.Of(_extras with { TrafficDistribution = value });
    }

    /// <summary>
    /// Ours: the external service mode of this Service (snat, tunnel or dsr) instead of the node's
    /// <c>--external-service-mode</c>, as written in <see cref="ExternalServiceModeAnnotation"/> (null: absent); the
    /// Syncer reads it (<c>Sync/ExternalModes</c>), so that a bad value is reported and the Service still programmed.
    /// </summary>
    public string? ExternalServiceMode
    {
        get => _extras.ExternalServiceMode;
        init => _extras = ServiceExtras.Of(_extras with { ExternalServiceMode = value });
    }

    /// <summary>The annotation kube-proxy reads when <c>spec.loadBalancerSourceRanges</c> is empty.</summary>
    public const string SourceRangesAnnotation = "service.beta.kubernetes.io/load-balancer-source-ranges";

    /// <summary>Ours: the annotation that sets <see cref="ExternalServiceMode"/>.</summary>
    public const string ExternalServiceModeAnnotation = "proxy-replacement.io/external-service-mode";

    /// <summary>Kubernetes' default for <c>sessionAffinityConfig.clientIP.timeoutSeconds</c> (3 hours).</summary>
    public const int DefaultSessionAffinityTimeoutSeconds = 10800;

    public ObjectKey Key => new(Namespace, Name);
}

/// <summary>The fields of a <see cref="Service"/> that nearly every Service leaves at their defaults; see there.</summary>
internal sealed record ServiceExtras(
    SessionAffinity SessionAffinity,
    int SessionAffinityTimeoutSeconds,
    TrafficPolicy InternalTrafficPolicy,
    TrafficPolicy ExternalTrafficPolicy,
    EquatableList<IPAddress> ExternalIPs,
    EquatableList<LoadBalancerIngress> LoadBalancerIngress,
    EquatableList<IPNetwork> LoadBalancerSourceRanges,
    int? HealthCheckNodePort,
    string? TrafficDistribution,
    string? ExternalServiceMode)
{
    /// <summary>Every field at its default: the one instance all such Services share.</summary>
    public static readonly ServiceExtras Defaults = new(SessionAffinity.None, Service.DefaultSessionAffinityTimeoutSeconds, TrafficPolicy.Cluster,
        TrafficPolicy.Cluster, EquatableList<IPAddress>.Empty, EquatableList<LoadBalancerIngress>.Empty, EquatableList<IPNetwork>.Empty, null, null, null);

    /// <summary><paramref name="extras"/>, or the shared <see cref="Defaults"/> when equal to it.</summary>
    public static ServiceExtras Of(ServiceExtras extras) => extras.Equals(Defaults) ? Defaults : extras;
}
