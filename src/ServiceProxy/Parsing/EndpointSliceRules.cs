using System.Net.Sockets;
using ProxyReplacement.ServiceProxy.Kubernetes.Objects;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>
/// The Kubernetes rules for a <c>discovery.k8s.io/v1 EndpointSlice</c>, shared by the manifest reader
/// (<see cref="EndpointSliceParser"/>) and the API source.
/// </summary>
internal static class EndpointSliceRules
{
    /// <param name="annotations">Read only for <see cref="EndpointSlice.LastChangeTriggerTimeAnnotation"/>; carried as
    /// <see cref="EndpointSlice.LastChangeTriggerTime"/>, which is not part of the slice's equality.</param>
    public static EndpointSlice ToModel(EndpointSliceObject slice, string @namespace, string name, Labels labels,
        IReadOnlyDictionary<string, string>? annotations = null)
    {
        if (!labels.TryGetValue(EndpointSlice.ServiceNameLabel, out var serviceName) || serviceName.Length == 0)
            throw new ObjectValidationException($"metadata.labels: no '{EndpointSlice.ServiceNameLabel}' label naming the Service");

        var addressType = slice.AddressType switch
        {
            "IPv4" => AddressType.IPv4,
            "IPv6" => AddressType.IPv6,
            "FQDN" => AddressType.Fqdn,
            null => throw new ObjectValidationException("addressType: required (IPv4, IPv6 or FQDN)"),
            var text => throw new ObjectValidationException($"addressType: unknown value '{text}' (expected IPv4, IPv6 or FQDN)"),
        };

        var endpointSpecs = slice.Endpoints ?? [];
        var endpoints = new List<SliceEndpoint>();
        for (var i = 0; i < endpointSpecs.Count; i++)
            endpoints.Add(Endpoint(endpointSpecs[i], addressType, $"endpoints[{i}]"));

        var portSpecs = slice.Ports ?? [];
        var ports = new List<EndpointPort>();
        for (var i = 0; i < portSpecs.Count; i++)
        {
            var path = $"ports[{i}]";
            var spec = portSpecs[i] ?? throw new ObjectValidationException($"{path}: expected an object");
            var portName = SharedValues.Strings.Share(spec.Name ?? "");
            if (portName.Length > 0)
                FieldRules.DnsLabel(portName, $"{path}.name");
            var protocol = FieldRules.Protocol(spec.Protocol, $"{path}.protocol");
            int? port = spec.Port is null ? null : FieldRules.Port(spec.Port, $"{path}.port");
            ports.Add(SharedValues.EndpointPorts.Share(new EndpointPort(portName, protocol, port)));
        }

        return new EndpointSlice(SharedValues.Strings.Share(@namespace), name, serviceName, addressType, endpoints.ToEquatableList(),
            SharedValues.EndpointPortLists.Share(ports.ToEquatableList()))
        {
            LastChangeTriggerTime = new ChangeTriggerTime(
                annotations?.GetValueOrDefault(EndpointSlice.LastChangeTriggerTimeAnnotation) is { } trigger ? TriggerTime(trigger) : null),
        };
    }

    /// <summary>
    /// The annotation's RFC 3339 time (the EndpointSlice controller writes nanoseconds; .NET parses 7 fraction
    /// digits). A value that does not parse is ignored, as kube-proxy ignores it: it only feeds a metric.
    /// </summary>
    internal static DateTimeOffset? TriggerTime(string text)
    {
        var trimmed = System.Text.RegularExpressions.Regex.Replace(text.Trim(), @"(\.\d{7})\d+", "$1");
        return DateTimeOffset.TryParse(trimmed, System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal, out var time)
            ? time
            : null;
    }

    private static EndpointHints? Hints(EndpointHintsSpec? spec, string path)
    {
        if (spec is null)
            return null;
        return new EndpointHints(Names(spec.ForZones, $"{path}.forZones"), Names(spec.ForNodes, $"{path}.forNodes"));

        static EquatableList<string> Names(List<NamedHintSpec?>? specs, string path) =>
            (specs ?? []).Select((hint, i) => hint?.Name is { Length: > 0 } name
                ? SharedValues.Strings.Share(name)
                : throw new ObjectValidationException($"{path}[{i}].name: required")).ToEquatableList();
    }

    private static SliceEndpoint Endpoint(EndpointSpec? spec, AddressType addressType, string path)
    {
        if (spec is null)
            throw new ObjectValidationException($"{path}: expected an object");
        var texts = spec.Addresses ?? [];
        if (texts.Count == 0)
            throw new ObjectValidationException($"{path}.addresses: at least one address is required");
        var addresses = new List<System.Net.IPAddress>();
        if (addressType != AddressType.Fqdn)
        {
            var family = addressType == AddressType.IPv4 ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6;
            for (var i = 0; i < texts.Count; i++)
            {
                var addressPath = $"{path}.addresses[{i}]";
                var address = FieldRules.IpAddress(texts[i], addressPath);
                if (address.AddressFamily != family)
                    throw new ObjectValidationException($"{addressPath}: '{texts[i]}' is not an {addressType} address");
                addresses.Add(address);
            }
        }

        var conditions = spec.Conditions is { } c ? EndpointConditions.Of(c.Ready, c.Serving, c.Terminating) : EndpointConditions.Of(null, null, null);
        return new SliceEndpoint(new AddressList(addresses), conditions, SharedValues.Share(spec.NodeName), SharedValues.Share(spec.Zone),
            Hints(spec.Hints, $"{path}.hints"));
    }
}
