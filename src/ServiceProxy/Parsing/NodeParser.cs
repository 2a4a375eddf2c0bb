using ProxyReplacement.ServiceProxy.Kubernetes.Objects;
using ProxyReplacement.ServiceProxy.Model;
using YamlDotNet.RepresentationModel;

namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>
/// A <c>v1 Node</c> manifest -> <see cref="Node"/>: YAML into the wire types (shape errors reported here), then the
/// <see cref="NodeRules"/> the API source shares. Read: the name, the labels (zone), <c>metadata.deletionTimestamp</c>,
/// <c>spec.podCIDR(s)</c>, <c>spec.taints</c> and <c>status.addresses</c>; the rest of a Node is not the proxy's business.
/// </summary>
internal static class NodeParser
{
    public static Node Parse(YamlMappingNode root, string name, Labels labels) =>
        NodeRules.ToModel(Read(root), name, labels);

    private static NodeObject Read(YamlMappingNode root)
    {
        var metadata = root.Mapping("metadata", "metadata");
        var spec = root.Mapping("spec", "spec");
        var status = root.Mapping("status", "status");
        return new NodeObject
        {
            Metadata = new ObjectMeta { DeletionTimestamp = metadata?.String("deletionTimestamp", "metadata.deletionTimestamp") },
            Spec = spec is null
                ? null
                : new NodeSpec
                {
                    PodCIDR = spec.String("podCIDR", "spec.podCIDR"),
                    PodCIDRs = spec.Sequence("podCIDRs", "spec.podCIDRs")
                        .Select((node, i) => node is YamlScalarNode scalar ? scalar.Value : throw new ObjectValidationException($"spec.podCIDRs[{i}]: expected a string"))
                        .ToList(),
                    Taints = spec.Sequence("taints", "spec.taints").Select((node, i) => (NodeTaintSpec?)ReadTaint(node, $"spec.taints[{i}]")).ToList(),
                },
            Status = status is null
                ? null
                : new NodeStatusSpec
                {
                    Addresses = status.Sequence("addresses", "status.addresses")
                        .Select((node, i) => (NodeAddressSpec?)ReadAddress(node, $"status.addresses[{i}]")).ToList(),
                },
        };
    }

    private static NodeTaintSpec ReadTaint(YamlNode node, string path) => node is YamlMappingNode taint
        ? new NodeTaintSpec
        {
            Key = taint.String("key", $"{path}.key"),
            Value = taint.String("value", $"{path}.value"),
            Effect = taint.String("effect", $"{path}.effect"),
        }
        : throw new ObjectValidationException($"{path}: expected an object");

    private static NodeAddressSpec ReadAddress(YamlNode node, string path) => node is YamlMappingNode address
        ? new NodeAddressSpec { Type = address.String("type", $"{path}.type"), Address = address.String("address", $"{path}.address") }
        : throw new ObjectValidationException($"{path}: expected an object");
}
