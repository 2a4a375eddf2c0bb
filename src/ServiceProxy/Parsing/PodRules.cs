using System.Net;
using ProxyReplacement.ServiceProxy.Kubernetes.Objects;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>
/// The rules for a <c>v1 Pod</c> (for the policy module): its IPs (<c>status.podIPs</c>, else <c>status.podIP</c>; IP
/// literals), its node, <c>hostNetwork</c>, whether its phase is Succeeded or Failed, and the named ports of its
/// containers (init containers' ports do not count, as in Kubernetes; a port of an unknown protocol is ignored).
/// </summary>
internal static class PodRules
{
    public static Pod ToModel(PodObject pod, ObjectKey key, Labels labels)
    {
        var status = pod.Status;
        var ips = new List<IPAddress>();
        if (status?.PodIPs is { Count: > 0 } podIps)
        {
            for (var i = 0; i < podIps.Count; i++)
                if (podIps[i]?.Ip is { Length: > 0 } text)
                    ips.Add(FieldRules.IpAddress(text, $"status.podIPs[{i}].ip"));
        }
        else if (status?.PodIP is { Length: > 0 } single)
        {
            ips.Add(FieldRules.IpAddress(single, "status.podIP"));
        }

        var ports = new List<NamedContainerPort>();
        var containers = pod.Spec?.Containers ?? [];
        for (var c = 0; c < containers.Count; c++)
        {
            var containerPorts = containers[c]?.Ports ?? [];
            for (var p = 0; p < containerPorts.Count; p++)
            {
                if (containerPorts[p] is not { Name: { Length: > 0 } name } port)
                    continue;
                var path = $"spec.containers[{c}].ports[{p}]";
                if (port.Protocol is { } protocolText && PolicyRulesText.Protocol(protocolText) is null)
                    continue; // a protocol policies cannot name
                var protocol = port.Protocol is null ? PolicyProtocol.Tcp : PolicyRulesText.Protocol(port.Protocol)!.Value;
                ports.Add(new NamedContainerPort(FieldRules.PortName(name, $"{path}.name"), protocol,
                    (ushort)FieldRules.Port(port.ContainerPort, $"{path}.containerPort")));
            }
        }
        var phase = status?.Phase;
        return new Pod(key, labels, ips.ToEquatableList(), pod.Spec?.NodeName is { Length: > 0 } node ? node : null,
            HostNetwork: pod.Spec?.HostNetwork == true, Terminated: phase is "Succeeded" or "Failed", ports.ToEquatableList());
    }
}

/// <summary>The rules for a <c>v1 Namespace</c>: its labels, with the name label the API server always sets.</summary>
internal static class NamespaceRules
{
    public static PodNamespace ToModel(string name, Labels labels) =>
        labels.TryGetValue(PodNamespace.NameLabel, out var value) && value == name
            ? new PodNamespace(name, labels)
            : new PodNamespace(name, Labels.From(labels.Where(pair => pair.Key != PodNamespace.NameLabel).Append(new(PodNamespace.NameLabel, name))));
}

/// <summary>Protocol names shared by the pod and policy rules.</summary>
internal static class PolicyRulesText
{
    public static PolicyProtocol? Protocol(string? text) => text switch
    {
        null or "TCP" => PolicyProtocol.Tcp,
        "UDP" => PolicyProtocol.Udp,
        "SCTP" => PolicyProtocol.Sctp,
        _ => null,
    };
}
