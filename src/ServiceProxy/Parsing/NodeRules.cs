using ProxyReplacement.ServiceProxy.Kubernetes.Objects;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>The rules for a <c>v1 Node</c>: IP addresses must be IP literals; address types the proxy does not know are ignored.</summary>
internal static class NodeRules
{
    public static Node ToModel(NodeObject node, string name, Labels labels)
    {
        var specs = node.Status?.Addresses ?? [];
        var addresses = new List<NodeAddress>();
        for (var i = 0; i < specs.Count; i++)
        {
            var path = $"status.addresses[{i}]";
            var spec = specs[i] ?? throw new ObjectValidationException($"{path}: expected an object");
            if (!Enum.TryParse<NodeAddressType>(spec.Type, ignoreCase: false, out var type) || int.TryParse(spec.Type, out _))
                continue; // a type newer than this proxy: not ours to judge
            if (string.IsNullOrEmpty(spec.Address))
                throw new ObjectValidationException($"{path}.address: required");
            var ip = type is NodeAddressType.InternalIP or NodeAddressType.ExternalIP
                ? FieldRules.IpAddress(spec.Address, $"{path}.address")
                : null;
            addresses.Add(new NodeAddress(type, spec.Address, ip));
        }
        var zone = labels.TryGetValue(Node.ZoneLabel, out var value) && value.Length > 0 ? value : null;
        var cidrTexts = node.Spec?.PodCIDRs is { Count: > 0 } list ? list : node.Spec?.PodCIDR is { Length: > 0 } single ? [single] : [];
        var podCidrs = cidrTexts.Select((text, i) => FieldRules.Cidr(text, $"spec.podCIDRs[{i}]")).ToEquatableList();
        var taints = (node.Spec?.Taints ?? []).Select((taint, i) => taint?.Key is { Length: > 0 } key
            ? key
            : throw new ObjectValidationException($"spec.taints[{i}].key: required")).ToEquatableList();
        return new Node(name, addresses.ToEquatableList(), zone, podCidrs, taints,
            BeingDeleted: !string.IsNullOrEmpty(node.Metadata?.DeletionTimestamp));
    }
}
