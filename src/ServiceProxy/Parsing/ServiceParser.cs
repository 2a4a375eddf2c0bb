using ProxyReplacement.ServiceProxy.Model;
using YamlDotNet.RepresentationModel;

namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>
/// A <c>v1 Service</c> object -> <see cref="Service"/>. Returns null for Services the proxy does
/// not handle (headless, ExternalName): those are valid, just not ours.
/// </summary>
internal static class ServiceParser
{
    public const int MaxSessionAffinityTimeoutSeconds = 86400;

    public static Service? Parse(YamlMappingNode root, string @namespace, string name, Labels labels)
    {
        var spec = root.Mapping("spec", "spec") ?? throw new ManifestValidationException("spec: required");

        var typeText = spec.String("type", "spec.type");
        ServiceType type;
        switch (typeText)
        {
            case null or "ClusterIP":
                type = ServiceType.ClusterIP;
                break;
            case "NodePort":
                type = ServiceType.NodePort;
                break;
            case "LoadBalancer":
                type = ServiceType.LoadBalancer;
                break;
            case "ExternalName":
                return null;
            default:
                throw new ManifestValidationException(
                    $"spec.type: unknown type '{typeText}' (expected ClusterIP, NodePort, LoadBalancer or ExternalName)");
        }

        var clusterIP = spec.String("clusterIP", "spec.clusterIP");
        var clusterIPTexts = spec.Sequence("clusterIPs", "spec.clusterIPs")
            .Select((node, i) => node is YamlScalarNode scalar ? scalar.Value : throw new ManifestValidationException($"spec.clusterIPs[{i}]: expected a string"))
            .ToList();
        if (clusterIP == "None" || (clusterIP is null && clusterIPTexts is ["None", ..]))
            return null; // headless: DNS only, nothing to proxy
        if (clusterIP is not null && clusterIPTexts.Count > 0 && clusterIPTexts[0] != clusterIP)
            throw new ManifestValidationException($"spec.clusterIPs[0]: '{clusterIPTexts[0]}' differs from spec.clusterIP '{clusterIP}'");
        var clusterIPs = clusterIPTexts.Count > 0
            ? clusterIPTexts.Select((text, i) => FieldRules.IpAddress(text, $"spec.clusterIPs[{i}]")).ToList()
            : clusterIP is not null
                ? [FieldRules.IpAddress(clusterIP, "spec.clusterIP")]
                : throw new ManifestValidationException("spec.clusterIP: not set (a manifest must carry the allocated ClusterIP)");
        if (clusterIPs.Count > 2 || clusterIPs.DistinctBy(ip => ip.AddressFamily).Count() != clusterIPs.Count)
            throw new ManifestValidationException("spec.clusterIPs: at most one address per IP family");

        var ports = ParsePorts(spec);

        var (affinity, timeout) = ParseSessionAffinity(spec);
        var internalPolicy = ParseTrafficPolicy(spec.String("internalTrafficPolicy", "spec.internalTrafficPolicy"), "spec.internalTrafficPolicy");
        var externalPolicy = ParseTrafficPolicy(spec.String("externalTrafficPolicy", "spec.externalTrafficPolicy"), "spec.externalTrafficPolicy");

        return new Service(@namespace, name, labels, type, clusterIPs.ToEquatableList(), ports.ToEquatableList(),
            affinity, timeout, internalPolicy, externalPolicy);
    }

    private static List<ServicePort> ParsePorts(YamlMappingNode spec)
    {
        var nodes = spec.Sequence("ports", "spec.ports");
        var ports = new List<ServicePort>();
        for (var i = 0; i < nodes.Count; i++)
        {
            var path = $"spec.ports[{i}]";
            if (nodes[i] is not YamlMappingNode node)
                throw new ManifestValidationException($"{path}: expected an object");
            var name = node.String("name", $"{path}.name") ?? "";
            if (name.Length > 0)
                FieldRules.DnsLabel(name, $"{path}.name");
            else if (nodes.Count > 1)
                throw new ManifestValidationException($"{path}.name: required when a Service has more than one port");
            var protocol = FieldRules.Protocol(node.String("protocol", $"{path}.protocol"), $"{path}.protocol");
            var port = FieldRules.Port(node.Integer("port", $"{path}.port"), $"{path}.port");
            var targetPort = node.IntOrString("targetPort", $"{path}.targetPort") switch
            {
                null => TargetPort.FromNumber(port), // Kubernetes defaults targetPort to port
                ({ } number, _) => TargetPort.FromNumber(FieldRules.Port(number, $"{path}.targetPort")),
                (_, var text) => TargetPort.FromName(FieldRules.PortName(text!, $"{path}.targetPort")),
            };
            var nodePortValue = node.Integer("nodePort", $"{path}.nodePort");
            int? nodePort = nodePortValue is null or 0 ? null : FieldRules.Port(nodePortValue, $"{path}.nodePort");

            if (ports.Any(other => other.Name == name))
                throw new ManifestValidationException($"{path}.name: duplicate port name '{name}'");
            if (ports.Any(other => other.Port == port && other.Protocol == protocol))
                throw new ManifestValidationException($"{path}: duplicate port {port}/{protocol}");
            ports.Add(new ServicePort(name, protocol, port, targetPort, nodePort));
        }
        return ports;
    }

    private static (SessionAffinity, int) ParseSessionAffinity(YamlMappingNode spec)
    {
        var text = spec.String("sessionAffinity", "spec.sessionAffinity");
        var affinity = text switch
        {
            null or "None" => SessionAffinity.None,
            "ClientIP" => SessionAffinity.ClientIP,
            _ => throw new ManifestValidationException($"spec.sessionAffinity: unknown value '{text}' (expected None or ClientIP)"),
        };
        const string timeoutPath = "spec.sessionAffinityConfig.clientIP.timeoutSeconds";
        var timeout = spec.Mapping("sessionAffinityConfig", "spec.sessionAffinityConfig")
            ?.Mapping("clientIP", "spec.sessionAffinityConfig.clientIP")
            ?.Integer("timeoutSeconds", timeoutPath);
        if (timeout is < 1 or > MaxSessionAffinityTimeoutSeconds)
            throw new ManifestValidationException($"{timeoutPath}: {timeout} is out of range 1-{MaxSessionAffinityTimeoutSeconds}");
        return (affinity, timeout ?? Service.DefaultSessionAffinityTimeoutSeconds);
    }

    private static TrafficPolicy ParseTrafficPolicy(string? text, string path) => text switch
    {
        null or "Cluster" => TrafficPolicy.Cluster,
        "Local" => TrafficPolicy.Local,
        _ => throw new ManifestValidationException($"{path}: unknown value '{text}' (expected Cluster or Local)"),
    };
}
