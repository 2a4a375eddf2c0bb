using ProxyReplacement.ServiceProxy.Kubernetes.Objects;
using ProxyReplacement.ServiceProxy.Model;
using YamlDotNet.RepresentationModel;

namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>
/// A <c>discovery.k8s.io/v1 EndpointSlice</c> manifest -> <see cref="EndpointSlice"/>: YAML into the wire
/// types (shape errors reported here), then the <see cref="EndpointSliceRules"/> the API source shares.
/// </summary>
internal static class EndpointSliceParser
{
    public static EndpointSlice Parse(YamlMappingNode root, string @namespace, string name, Labels labels) =>
        EndpointSliceRules.ToModel(Read(root), @namespace, name, labels, ServiceParser.ReadAnnotations(root));

    private static EndpointSliceObject Read(YamlMappingNode root) => new()
    {
        AddressType = root.String("addressType", "addressType"),
        Endpoints = root.Sequence("endpoints", "endpoints").Select((node, i) => (EndpointSpec?)ReadEndpoint(node, $"endpoints[{i}]")).ToList(),
        Ports = root.Sequence("ports", "ports").Select((node, i) => (EndpointPortSpec?)ReadPort(node, $"ports[{i}]")).ToList(),
    };

    private static EndpointSpec ReadEndpoint(YamlNode node, string path)
    {
        if (node is not YamlMappingNode endpoint)
            throw new ObjectValidationException($"{path}: expected an object");
        var conditions = endpoint.Mapping("conditions", $"{path}.conditions");
        return new EndpointSpec
        {
            Addresses = endpoint.Sequence("addresses", $"{path}.addresses")
                .Select((address, i) => address is YamlScalarNode scalar ? scalar.Value : throw new ObjectValidationException($"{path}.addresses[{i}]: expected a string"))
                .ToList(),
            Conditions = conditions is null
                ? null
                : new EndpointConditionsSpec
                {
                    Ready = conditions.Boolean("ready", $"{path}.conditions.ready"),
                    Serving = conditions.Boolean("serving", $"{path}.conditions.serving"),
                    Terminating = conditions.Boolean("terminating", $"{path}.conditions.terminating"),
                },
            NodeName = endpoint.String("nodeName", $"{path}.nodeName"),
            Zone = endpoint.String("zone", $"{path}.zone"),
            Hints = ReadHints(endpoint.Mapping("hints", $"{path}.hints"), $"{path}.hints"),
        };
    }

    private static EndpointHintsSpec? ReadHints(YamlMappingNode? hints, string path)
    {
        if (hints is null)
            return null;
        return new EndpointHintsSpec
        {
            ForZones = ReadNamed(hints, "forZones", $"{path}.forZones"),
            ForNodes = ReadNamed(hints, "forNodes", $"{path}.forNodes"),
        };

        static List<NamedHintSpec?> ReadNamed(YamlMappingNode hints, string key, string path) =>
            hints.Sequence(key, path).Select((node, i) => node is YamlMappingNode named
                ? (NamedHintSpec?)new NamedHintSpec { Name = named.String("name", $"{path}[{i}].name") }
                : throw new ObjectValidationException($"{path}[{i}]: expected an object")).ToList();
    }

    private static EndpointPortSpec ReadPort(YamlNode node, string path)
    {
        if (node is not YamlMappingNode port)
            throw new ObjectValidationException($"{path}: expected an object");
        return new EndpointPortSpec
        {
            Name = port.String("name", $"{path}.name"),
            Protocol = port.String("protocol", $"{path}.protocol"),
            Port = port.Integer("port", $"{path}.port"),
        };
    }
}
