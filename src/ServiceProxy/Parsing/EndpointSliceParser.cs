using System.Net.Sockets;
using ProxyReplacement.ServiceProxy.Model;
using YamlDotNet.RepresentationModel;

namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>A <c>discovery.k8s.io/v1 EndpointSlice</c> object -> <see cref="EndpointSlice"/>.</summary>
internal static class EndpointSliceParser
{
    public static EndpointSlice Parse(YamlMappingNode root, string @namespace, string name, Labels labels)
    {
        if (!labels.TryGetValue(EndpointSlice.ServiceNameLabel, out var serviceName) || serviceName.Length == 0)
            throw new ManifestValidationException($"metadata.labels: no '{EndpointSlice.ServiceNameLabel}' label naming the Service");

        var addressTypeText = root.String("addressType", "addressType");
        var addressType = addressTypeText switch
        {
            "IPv4" => AddressType.IPv4,
            "IPv6" => AddressType.IPv6,
            "FQDN" => AddressType.Fqdn,
            null => throw new ManifestValidationException("addressType: required (IPv4, IPv6 or FQDN)"),
            _ => throw new ManifestValidationException($"addressType: unknown value '{addressTypeText}' (expected IPv4, IPv6 or FQDN)"),
        };

        var endpoints = new List<SliceEndpoint>();
        var endpointNodes = root.Sequence("endpoints", "endpoints");
        for (var i = 0; i < endpointNodes.Count; i++)
            endpoints.Add(ParseEndpoint(endpointNodes[i], addressType, $"endpoints[{i}]"));

        var ports = new List<EndpointPort>();
        var portNodes = root.Sequence("ports", "ports");
        for (var i = 0; i < portNodes.Count; i++)
        {
            var path = $"ports[{i}]";
            if (portNodes[i] is not YamlMappingNode node)
                throw new ManifestValidationException($"{path}: expected an object");
            var portName = node.String("name", $"{path}.name") ?? "";
            if (portName.Length > 0)
                FieldRules.DnsLabel(portName, $"{path}.name");
            var protocol = FieldRules.Protocol(node.String("protocol", $"{path}.protocol"), $"{path}.protocol");
            var portValue = node.Integer("port", $"{path}.port");
            int? port = portValue is null ? null : FieldRules.Port(portValue, $"{path}.port");
            ports.Add(new EndpointPort(portName, protocol, port));
        }

        return new EndpointSlice(@namespace, name, serviceName, addressType, endpoints.ToEquatableList(), ports.ToEquatableList());
    }

    private static SliceEndpoint ParseEndpoint(YamlNode node, AddressType addressType, string path)
    {
        if (node is not YamlMappingNode endpoint)
            throw new ManifestValidationException($"{path}: expected an object");
        var addressNodes = endpoint.Sequence("addresses", $"{path}.addresses");
        if (addressNodes.Count == 0)
            throw new ManifestValidationException($"{path}.addresses: at least one address is required");
        var addresses = new List<System.Net.IPAddress>();
        if (addressType != AddressType.Fqdn)
        {
            var family = addressType == AddressType.IPv4 ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6;
            for (var i = 0; i < addressNodes.Count; i++)
            {
                var addressPath = $"{path}.addresses[{i}]";
                var text = addressNodes[i] is YamlScalarNode scalar ? scalar.Value : throw new ManifestValidationException($"{addressPath}: expected a string");
                var address = FieldRules.IpAddress(text, addressPath);
                if (address.AddressFamily != family)
                    throw new ManifestValidationException($"{addressPath}: '{text}' is not an {addressType} address");
                addresses.Add(address);
            }
        }

        var conditionsNode = endpoint.Mapping("conditions", $"{path}.conditions");
        var conditions = conditionsNode is null
            ? new EndpointConditions()
            : new EndpointConditions(
                conditionsNode.Boolean("ready", $"{path}.conditions.ready"),
                conditionsNode.Boolean("serving", $"{path}.conditions.serving"),
                conditionsNode.Boolean("terminating", $"{path}.conditions.terminating"));

        return new SliceEndpoint(addresses.ToEquatableList(), conditions,
            endpoint.String("nodeName", $"{path}.nodeName"), endpoint.String("zone", $"{path}.zone"));
    }
}
