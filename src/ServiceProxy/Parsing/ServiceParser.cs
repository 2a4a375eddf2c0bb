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
        ServiceRules.ToModel(ReadSpec(root), @namespace, name, labels);

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
            ClusterIPs = spec.Sequence("clusterIPs", "spec.clusterIPs")
                .Select((node, i) => node is YamlScalarNode scalar ? scalar.Value : throw new ObjectValidationException($"spec.clusterIPs[{i}]: expected a string"))
                .ToList(),
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
