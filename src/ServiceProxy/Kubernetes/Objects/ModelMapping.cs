using System.Globalization;
using k8s.Models;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Objects;

/// <summary>
/// KubernetesClient's models -> the wire records the shared rules (<c>Parsing/*Rules.cs</c>) read, field
/// for field and only the fields they read, so the manifest source and the API source stay on one set of
/// rules. Why convert instead of running the rules on the models: the manifest reader builds these records
/// straight from YAML (with a path for every error), the records are a tenth of the models' size, and the
/// conversion costs less than the decoding (see the README's "Models" section).
/// </summary>
public static class ModelMapping
{
    public static ServiceObject Service(V1Service service) => new()
    {
        ApiVersion = service.ApiVersion,
        Kind = service.Kind,
        Metadata = Metadata(service.Metadata),
        Spec = service.Spec is not { } spec ? null : new ServiceSpec
        {
            Type = spec.Type,
            ClusterIP = spec.ClusterIP,
            ClusterIPs = List(spec.ClusterIPs),
            Ports = spec.Ports?.Select(port => port is null ? null : new ServicePortSpec
            {
                Name = port.Name,
                Protocol = port.Protocol,
                // the model's port is a plain int: 0 when absent, which the rules reject as out of range
                Port = port.Port,
                TargetPort = port.TargetPort?.Value is not { } target ? null
                    : int.TryParse(target, NumberStyles.None, CultureInfo.InvariantCulture, out var number) ? IntOrString.From(number) : IntOrString.From(target),
                NodePort = port.NodePort,
            }).ToList(),
            SessionAffinity = spec.SessionAffinity,
            SessionAffinityConfig = spec.SessionAffinityConfig is not { } affinity ? null : new SessionAffinityConfigSpec
            {
                ClientIP = affinity.ClientIP is not { } clientIP ? null : new ClientIPConfigSpec { TimeoutSeconds = clientIP.TimeoutSeconds },
            },
            InternalTrafficPolicy = spec.InternalTrafficPolicy,
            ExternalTrafficPolicy = spec.ExternalTrafficPolicy,
            ExternalIPs = List(spec.ExternalIPs),
            LoadBalancerSourceRanges = List(spec.LoadBalancerSourceRanges),
            HealthCheckNodePort = spec.HealthCheckNodePort,
            TrafficDistribution = spec.TrafficDistribution,
        },
        Status = service.Status?.LoadBalancer is not { } loadBalancer ? null : new ServiceStatusSpec
        {
            LoadBalancer = new LoadBalancerStatusSpec
            {
                Ingress = loadBalancer.Ingress?.Select(ingress => ingress is null ? null : new LoadBalancerIngressSpec
                {
                    Ip = ingress.Ip,
                    Hostname = ingress.Hostname,
                    IpMode = ingress.IpMode,
                }).ToList(),
            },
        },
    };

    public static EndpointSliceObject EndpointSlice(V1EndpointSlice slice) => new()
    {
        ApiVersion = slice.ApiVersion,
        Kind = slice.Kind,
        Metadata = Metadata(slice.Metadata),
        AddressType = slice.AddressType,
        Endpoints = slice.Endpoints?.Select(endpoint => endpoint is null ? null : new EndpointSpec
        {
            Addresses = List(endpoint.Addresses),
            Conditions = endpoint.Conditions is not { } conditions ? null : new EndpointConditionsSpec
            {
                Ready = conditions.Ready,
                Serving = conditions.Serving,
                Terminating = conditions.Terminating,
            },
            NodeName = endpoint.NodeName,
            Zone = endpoint.Zone,
            Hints = endpoint.Hints is not { } hints ? null : new EndpointHintsSpec
            {
                ForZones = hints.ForZones?.Select(zone => zone is null ? null : new NamedHintSpec { Name = zone.Name }).ToList(),
                ForNodes = hints.ForNodes?.Select(node => node is null ? null : new NamedHintSpec { Name = node.Name }).ToList(),
            },
        }).ToList(),
        Ports = slice.Ports?.Select(port => port is null ? null : new EndpointPortSpec { Name = port.Name, Protocol = port.Protocol, Port = port.Port }).ToList(),
    };

    public static NodeObject Node(V1Node node) => new()
    {
        ApiVersion = node.ApiVersion,
        Kind = node.Kind,
        Metadata = Metadata(node.Metadata),
        Spec = node.Spec is not { } spec ? null : new NodeSpec
        {
            PodCIDR = spec.PodCIDR,
            PodCIDRs = List(spec.PodCIDRs),
            Taints = spec.Taints?.Select(taint => taint is null ? null : new NodeTaintSpec { Key = taint.Key, Value = taint.Value, Effect = taint.Effect }).ToList(),
        },
        Status = node.Status is not { } status ? null : new NodeStatusSpec
        {
            Addresses = status.Addresses?.Select(address => address is null ? null : new NodeAddressSpec { Type = address.Type, Address = address.Address }).ToList(),
        },
    };

    public static PodObject Pod(V1Pod pod) => new()
    {
        ApiVersion = pod.ApiVersion,
        Kind = pod.Kind,
        Metadata = Metadata(pod.Metadata),
        Spec = pod.Spec,
        Status = pod.Status,
    };

    public static NamespaceObject Namespace(V1Namespace @namespace) => new()
    {
        ApiVersion = @namespace.ApiVersion,
        Kind = @namespace.Kind,
        Metadata = Metadata(@namespace.Metadata),
    };

    public static NetworkPolicyObject NetworkPolicy(V1NetworkPolicy policy) => new()
    {
        ApiVersion = policy.ApiVersion,
        Kind = policy.Kind,
        Metadata = Metadata(policy.Metadata),
        Spec = policy.Spec,
    };

    private static ObjectMeta? Metadata(V1ObjectMeta? metadata) => metadata is null ? null : new ObjectMeta
    {
        Name = metadata.Name,
        Namespace = metadata.NamespaceProperty,
        ResourceVersion = metadata.ResourceVersion,
        Uid = metadata.Uid,
        Labels = Dictionary(metadata.Labels),
        Annotations = Dictionary(metadata.Annotations),
        DeletionTimestamp = metadata.DeletionTimestamp?.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
    };

    private static List<string?>? List(IList<string>? items) => items is null ? null : new List<string?>(items);

    private static Dictionary<string, string>? Dictionary(IDictionary<string, string>? items) =>
        items is null ? null : items as Dictionary<string, string> ?? new Dictionary<string, string>(items, StringComparer.Ordinal);
}
