using System.Net;
using ProxyReplacement.ServiceProxy.Kubernetes.Objects;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>
/// The Kubernetes rules for a <c>v1 Service</c> spec, shared by the manifest reader (YAML read into the
/// wire types by <see cref="ServiceParser"/>) and the API source (JSON decoded into them): one set of
/// rules, one set of messages. Returns null for Services the proxy does not handle (headless,
/// ExternalName): those are valid, just not ours.
/// </summary>
internal static class ServiceRules
{
    public const int MaxSessionAffinityTimeoutSeconds = 86400;

    public static Service? ToModel(ServiceSpec? spec, string @namespace, string name, Labels labels) =>
        ToModel(spec, null, null, @namespace, name, labels);

    public static Service? ToModel(ServiceSpec? spec, ServiceStatusSpec? status, IReadOnlyDictionary<string, string>? annotations,
        string @namespace, string name, Labels labels)
    {
        if (spec is null)
            throw new ObjectValidationException("spec: required");

        ServiceType type;
        switch (spec.Type)
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
                throw new ObjectValidationException(
                    $"spec.type: unknown type '{spec.Type}' (expected ClusterIP, NodePort, LoadBalancer or ExternalName)");
        }

        var clusterIP = spec.ClusterIP;
        var clusterIPTexts = spec.ClusterIPs ?? [];
        if (clusterIP == "None" || (string.IsNullOrEmpty(clusterIP) && clusterIPTexts is ["None", ..]))
            return null; // headless: DNS only, nothing to proxy
        if (!string.IsNullOrEmpty(clusterIP) && clusterIPTexts.Count > 0 && clusterIPTexts[0] != clusterIP)
            throw new ObjectValidationException($"spec.clusterIPs[0]: '{clusterIPTexts[0]}' differs from spec.clusterIP '{clusterIP}'");
        var clusterIPs = clusterIPTexts.Count > 0
            ? clusterIPTexts.Select((text, i) => FieldRules.IpAddress(text, $"spec.clusterIPs[{i}]")).ToList()
            : !string.IsNullOrEmpty(clusterIP)
                ? [FieldRules.IpAddress(clusterIP, "spec.clusterIP")]
                : throw new ObjectValidationException("spec.clusterIP: not set (the proxy needs the allocated ClusterIP; a manifest must carry it)");
        if (clusterIPs.Count > 2 || clusterIPs.DistinctBy(ip => ip.AddressFamily).Count() != clusterIPs.Count)
            throw new ObjectValidationException("spec.clusterIPs: at most one address per IP family");

        var ports = Ports(spec.Ports ?? []);
        var (affinity, timeout) = SessionAffinityOf(spec);
        var internalPolicy = TrafficPolicyOf(spec.InternalTrafficPolicy, "spec.internalTrafficPolicy");
        var externalPolicy = TrafficPolicyOf(spec.ExternalTrafficPolicy, "spec.externalTrafficPolicy");

        var externalIPs = (spec.ExternalIPs ?? []).Select((text, i) => FieldRules.IpAddress(text, $"spec.externalIPs[{i}]")).ToEquatableList();
        var sourceRanges = SourceRanges(spec, annotations);
        int? healthCheckNodePort = spec.HealthCheckNodePort is null or 0 ? null : FieldRules.Port(spec.HealthCheckNodePort, "spec.healthCheckNodePort");
        var ingress = type == ServiceType.LoadBalancer ? Ingress(status) : EquatableList<LoadBalancerIngress>.Empty;

        return new Service(SharedValues.Strings.Share(@namespace), name, labels, type, new AddressList(clusterIPs),
            SharedValues.ServicePortLists.Share(ports.ToEquatableList()),
            affinity, timeout, internalPolicy, externalPolicy, externalIPs, ingress, sourceRanges, healthCheckNodePort,
            string.IsNullOrEmpty(spec.TrafficDistribution) ? null : spec.TrafficDistribution,
            annotations?.GetValueOrDefault(Service.ExternalServiceModeAnnotation));
    }

    /// <summary>The field, or when it is empty the annotation (comma-separated, spaces allowed), as kube-proxy reads them.</summary>
    private static EquatableList<IPNetwork> SourceRanges(ServiceSpec spec, IReadOnlyDictionary<string, string>? annotations)
    {
        if (spec.LoadBalancerSourceRanges is { Count: > 0 } ranges)
            return ranges.Select((text, i) => FieldRules.Cidr(text?.Trim(), $"spec.loadBalancerSourceRanges[{i}]")).ToEquatableList();
        if (annotations is not null && annotations.TryGetValue(Service.SourceRangesAnnotation, out var annotation) && annotation.Trim().Length > 0)
            return annotation.Split(',').Select(text => FieldRules.Cidr(text.Trim(), $"metadata.annotations[{Service.SourceRangesAnnotation}]")).ToEquatableList();
        return EquatableList<IPNetwork>.Empty;
    }

    /// <summary>The IPs of <c>status.loadBalancer.ingress</c>; entries with only a hostname carry nothing to program.</summary>
    private static EquatableList<LoadBalancerIngress> Ingress(ServiceStatusSpec? status)
    {
        var specs = status?.LoadBalancer?.Ingress ?? [];
        var ingress = new List<LoadBalancerIngress>();
        for (var i = 0; i < specs.Count; i++)
        {
            var path = $"status.loadBalancer.ingress[{i}]";
            var spec = specs[i] ?? throw new ObjectValidationException($"{path}: expected an object");
            if (string.IsNullOrEmpty(spec.Ip))
                continue;
            var ip = FieldRules.IpAddress(spec.Ip, $"{path}.ip");
            var mode = spec.IpMode switch
            {
                null or "VIP" => LoadBalancerIPMode.Vip,
                "Proxy" => LoadBalancerIPMode.Proxy,
                var text => throw new ObjectValidationException($"{path}.ipMode: unknown value '{text}' (expected VIP or Proxy)"),
            };
            ingress.Add(new LoadBalancerIngress(ip, mode));
        }
        return ingress.ToEquatableList();
    }

    private static List<ServicePort> Ports(IReadOnlyList<ServicePortSpec?> specs)
    {
        var ports = new List<ServicePort>();
        for (var i = 0; i < specs.Count; i++)
        {
            var path = $"spec.ports[{i}]";
            var spec = specs[i] ?? throw new ObjectValidationException($"{path}: expected an object");
            var name = SharedValues.Strings.Share(spec.Name ?? "");
            if (name.Length > 0)
                FieldRules.DnsLabel(name, $"{path}.name");
            else if (specs.Count > 1)
                throw new ObjectValidationException($"{path}.name: required when a Service has more than one port");
            var protocol = FieldRules.Protocol(spec.Protocol, $"{path}.protocol");
            var port = FieldRules.Port(spec.Port, $"{path}.port");
            var targetPort = spec.TargetPort switch
            {
                null => TargetPort.FromNumber(port), // Kubernetes defaults targetPort to port
                { Number: { } number } => TargetPort.FromNumber(FieldRules.Port(number, $"{path}.targetPort")),
                { Text: var text } => TargetPort.FromName(SharedValues.Strings.Share(FieldRules.PortName(text ?? "", $"{path}.targetPort"))),
            };
            int? nodePort = spec.NodePort is null or 0 ? null : FieldRules.Port(spec.NodePort, $"{path}.nodePort");

            if (ports.Any(other => other.Name == name))
                throw new ObjectValidationException($"{path}.name: duplicate port name '{name}'");
            if (ports.Any(other => other.Port == port && other.Protocol == protocol))
                throw new ObjectValidationException($"{path}: duplicate port {port}/{protocol}");
            ports.Add(SharedValues.ServicePorts.Share(new ServicePort(name, protocol, port, targetPort, nodePort)));
        }
        return ports;
    }

    private static (SessionAffinity, int) SessionAffinityOf(ServiceSpec spec)
    {
        var affinity = spec.SessionAffinity switch
        {
            null or "None" => SessionAffinity.None,
            "ClientIP" => SessionAffinity.ClientIP,
            var text => throw new ObjectValidationException($"spec.sessionAffinity: unknown value '{text}' (expected None or ClientIP)"),
        };
        const string timeoutPath = "spec.sessionAffinityConfig.clientIP.timeoutSeconds";
        var timeout = spec.SessionAffinityConfig?.ClientIP?.TimeoutSeconds;
        if (timeout is < 1 or > MaxSessionAffinityTimeoutSeconds)
            throw new ObjectValidationException($"{timeoutPath}: {timeout} is out of range 1-{MaxSessionAffinityTimeoutSeconds}");
        return (affinity, timeout ?? Service.DefaultSessionAffinityTimeoutSeconds);
    }

    private static TrafficPolicy TrafficPolicyOf(string? text, string path) => text switch
    {
        null or "Cluster" => TrafficPolicy.Cluster,
        "Local" => TrafficPolicy.Local,
        _ => throw new ObjectValidationException($"{path}: unknown value '{text}' (expected Cluster or Local)"),
    };
}
