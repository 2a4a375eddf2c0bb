using ProxyReplacement.ServiceProxy.Kubernetes.Objects;
using ProxyReplacement.ServiceProxy.Model;
using YamlDotNet.RepresentationModel;

namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>
/// A <c>v1 Service</c> manifest -> <see cref="Service"/>: reads the YAML into the wire types (shape
/// errors, e.g. a port that is not an integer, are reported here with their path), then applies the
/// <see cref="ServiceRules"/> the API source applies too. Null for headless and ExternalName Services.
/// </summary>
internal static class ServiceParser
{
    public static Service? Parse(YamlMappingNode root, string @namespace, string name, Labels labels) =>
        ServiceRules.ToModel(ReadSpec(root), ReadStatus(root), ReadAnnotations(root), @namespace, name, labels);

    internal static Dictionary<string, string>? ReadAnnotations(YamlMappingNode root)
    {
        var annotations = root.Mapping("metadata", "metadata")?.Mapping("annotations", "metadata.annotations");
        if (annotations is null)
            return null;
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (keyNode, valueNode) in annotations.Children)
        {
            if (keyNode is YamlScalarNode { Value: { Length: > 0 } key } && valueNode is YamlScalarNode value)
                pairs[key] = value.Value ?? "";
            else
                throw new ObjectValidationException("metadata.annotations: keys and values must be strings");
        }
        return pairs;
    }

    private static ServiceStatusSpec? ReadStatus(YamlMappingNode root)
    {
        var loadBalancer = root.Mapping("status", "status")?.Mapping("loadBalancer", "status.loadBalancer");
        if (loadBalancer is null)
            return null;
        return new ServiceStatusSpec
        {
            LoadBalancer = new LoadBalancerStatusSpec
            {
                Ingress = loadBalancer.Sequence("ingress", "status.loadBalancer.ingress").Select((node, i) =>
                {
                    var path = $"status.loadBalancer.ingress[{i}]";
                    if (node is not YamlMappingNode entry)
                        throw new ObjectValidationException($"{path}: expected an object");
                    return (LoadBalancerIngressSpec?)new LoadBalancerIngressSpec
                    {
                        Ip = entry.String("ip", $"{path}.ip"),
                        Hostname = entry.String("hostname", $"{path}.hostname"),
                        IpMode = entry.String("ipMode", $"{path}.ipMode"),
                    };
                }).ToList(),
            },
        };
    }

    private static List<string?> Strings(YamlMappingNode spec, string key, string path) =>
        spec.Sequence(key, path)
            .Select((node, i) => node is YamlScalarNode scalar ? scalar.Value : throw new ObjectValidationException($"{path}[{i}]: expected a string"))
            .ToList();

    private static ServiceSpec? ReadSpec(YamlMappingNode root)
    {
        var spec = root.Mapping("spec", "spec");
        if (spec is null)
            return null;
        var affinityTimeout = spec.Mapping("sessionAffinityConfig", "spec.sessionAffinityConfig")
            ?.Mapping("clientIP", "spec.sessionAffinityConfig.clientIP")
            ?.Integer("timeoutSeconds", "spec.sessionAffinityConfig.clientIP.timeoutSeconds");
        return new ServiceSpec
        {
            Type = spec.String("type", "spec.type"),
            ClusterIP = spec.String("clusterIP", "spec.clusterIP"),
            ClusterIPs = Strings(spec, "clusterIPs", "spec.clusterIPs"),
            ExternalIPs = Strings(spec, "externalIPs", "spec.externalIPs"),
            LoadBalancerSourceRanges = Strings(spec, "loadBalancerSourceRanges", "spec.loadBalancerSourceRanges"),
            HealthCheckNodePort = spec.Integer("healthCheckNodePort", "spec.healthCheckNodePort"),
            TrafficDistribution = spec.String("trafficDistribution", "spec.trafficDistribution"),
            Ports = spec.Sequence("ports", "spec.ports").Select((node, i) => (ServicePortSpec?)ReadPort(node, $"spec.ports[{i}]")).ToList(),
            SessionAffinity = spec.String("sessionAffinity", "spec.sessionAffinity"),
            SessionAffinityConfig = affinityTimeout is null ? null : new SessionAffinityConfigSpec { ClientIP = new ClientIPConfigSpec { TimeoutSeconds = affinityTimeout } },
            InternalTrafficPolicy = spec.String("internalTrafficPolicy", "spec.internalTrafficPolicy"),
            ExternalTrafficPolicy = spec.String("externalTrafficPolicy", "spec.externalTrafficPolicy"),
        };
    }

    private static ServicePortSpec ReadPort(YamlNode node, string path)
    {
        if (node is not YamlMappingNode port)
            throw new ObjectValidationException($"{path}: expected an object");
        return new ServicePortSpec
        {
            Name = port.String("name", $"{path}.name"),
            Protocol = port.String("protocol", $"{path}.protocol"),
            Port = port.Integer("port", $"{path}.port"),
            TargetPort = port.IntOrString("targetPort", $"{path}.targetPort") switch
            {
                null => null,
                ({ } number, _) => IntOrString.From(number),
                (_, var text) => IntOrString.From(text ?? ""),
            },
            NodePort = port.Integer("nodePort", $"{path}.nodePort"),
        };
    }
}
