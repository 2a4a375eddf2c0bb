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
    EquatableList<IPAddress> ClusterIPs,
    EquatableList<ServicePort> Ports,
    SessionAffinity SessionAffinity = SessionAffinity.None,
    int SessionAffinityTimeoutSeconds = Service.DefaultSessionAffinityTimeoutSeconds,
    TrafficPolicy InternalTrafficPolicy = TrafficPolicy.Cluster,
    TrafficPolicy ExternalTrafficPolicy = TrafficPolicy.Cluster)
{
    /// <summary>Kubernetes' default for <c>sessionAffinityConfig.clientIP.timeoutSeconds</c> (3 hours).</summary>
    public const int DefaultSessionAffinityTimeoutSeconds = 10800;

    public ObjectKey Key => new(Namespace, Name);
}
