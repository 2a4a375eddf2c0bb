using System.Net;
using System.Net.Sockets;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sources;

namespace ProxyReplacement.ServiceProxy.Tests.Policy;

/// <summary>
/// Kubernetes NetworkPolicy semantics applied directly to one packet, with plain loops over the policies and rules (no
/// prefixes, no classes, nothing shared with the compiler): the oracle of <see cref="PolicyCompilerProperties"/>.
/// A packet concerns one endpoint (a running, non-host-network pod of this node with that IPv4 address) in one
/// direction; the peer is the other side's address; a pod peer is a running, non-host-network pod with that address.
/// </summary>
internal static class ReferenceEvaluator
{
    public static bool Allowed(PolicyInputs inputs, string node, IPAddress podIp, bool ingress, byte protocol, ushort port, IPAddress peerIp)
    {
        var endpoint = PodAt(inputs, podIp, node);
        if (endpoint is null)
            return true; // not a pod of ours: nothing to enforce
        var isolating = false;
        foreach (var policy in inputs.Policies.Values)
        {
            if (policy.Key.Namespace != endpoint.Key.Namespace || !policy.PodSelector.Matches(endpoint.Labels))
                continue;
            if (ingress ? !policy.IsolatesIngress : !policy.IsolatesEgress)
                continue;
            isolating = true;
            foreach (var rule in ingress ? policy.Ingress : policy.Egress)
                if (PeerMatches(inputs, rule, policy.Key.Namespace, peerIp) && PortMatches(inputs, rule, ingress, protocol, port, endpoint, peerIp))
                    return true;
        }
        return !isolating;
    }

    private static Pod? PodAt(PolicyInputs inputs, IPAddress address, string? node = null)
    {
        foreach (var pod in inputs.Pods.Values.OrderBy(p => p.Key))
        {
            if (pod.HostNetwork || pod.Terminated || (node is not null && pod.NodeName != node))
                continue;
            var first = pod.Ips.FirstOrDefault(ip => ip.AddressFamily == AddressFamily.InterNetwork);
            if (first is not null && first.Equals(address))
                return pod;
        }
        return null;
    }

    private static bool PeerMatches(PolicyInputs inputs, PolicyRule rule, string policyNamespace, IPAddress peerIp)
    {
        if (rule.Peers.Count == 0)
            return true;
        foreach (var peer in rule.Peers)
        {
            switch (peer)
            {
                case IpBlockPeer block when block.Cidr.BaseAddress.AddressFamily == AddressFamily.InterNetwork:
                    if (block.Cidr.Contains(peerIp) && !block.Except.Any(except => except.Contains(peerIp)))
                        return true;
                    break;
                case SelectorPeer selector:
                    var pod = PodAt(inputs, peerIp);
                    if (pod is null)
                        break;
                    var namespaceMatches = selector.Namespaces is null
                        ? pod.Key.Namespace == policyNamespace
                        : selector.Namespaces.Matches(NamespaceLabels(inputs, pod.Key.Namespace));
                    if (namespaceMatches && (selector.Pods is null || selector.Pods.Matches(pod.Labels)))
                        return true;
                    break;
            }
        }
        return false;
    }

    private static Labels NamespaceLabels(PolicyInputs inputs, string name) =>
        inputs.Namespaces.TryGetValue(name, out var ns) ? ns.Labels : PodNamespace.Implicit(name).Labels;

    private static bool PortMatches(PolicyInputs inputs, PolicyRule rule, bool ingress, byte protocol, ushort port, Pod endpoint, IPAddress peerIp)
    {
        if (rule.Ports.Count == 0)
            return true;
        foreach (var policyPort in rule.Ports)
        {
            if ((byte)policyPort.Protocol != protocol)
                continue;
            if (policyPort.Name is { } name)
            {
                // The name is the destination pod's: the endpoint for ingress, the peer for egress.
                var destination = ingress ? endpoint : PodAt(inputs, peerIp);
                if (destination is not null && destination.NamedPorts.Any(p => p.Name == name && p.Protocol == policyPort.Protocol && p.Port == port))
                    return true;
            }
            else if (policyPort.Number is not { } first || (port >= first && port <= (policyPort.EndPort ?? first)))
                return true;
        }
        return false;
    }
}
