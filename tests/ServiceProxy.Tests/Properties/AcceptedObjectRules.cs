using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Tests.Properties;

/// <summary>
/// What every accepted object must satisfy, written from the Kubernetes API rules independently of the parser's
/// FieldRules: returns the broken rules (empty when the object is fine).
/// </summary>
public static partial class AcceptedObjectRules
{
    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex DnsLabel();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]
    private static partial Regex DnsSubdomain();

    [GeneratedRegex("^[a-z0-9]([a-z0-9]|-(?!-))*$")]
    private static partial Regex IanaName();

    private static bool IsLabel(string text) => text.Length <= 63 && DnsLabel().IsMatch(text);

    private static bool IsPort(int port) => port is >= 1 and <= 65535;

    public static List<string> Of(Service service)
    {
        var broken = new List<string>();
        void Check(bool ok, string rule)
        {
            if (!ok)
                broken.Add(rule);
        }

        Check(IsLabel(service.Namespace), $"namespace '{service.Namespace}' is a DNS label");
        Check(service.Name.Length <= 253 && DnsSubdomain().IsMatch(service.Name), $"name '{service.Name}' is a DNS subdomain");
        Check(Enum.IsDefined(service.Type), "type is known");
        Check(service.ClusterIPs.Count is 1 or 2 && service.ClusterIPs.All(ip => ip is not null) &&
              service.ClusterIPs.Select(ip => ip.AddressFamily).Distinct().Count() == service.ClusterIPs.Count,
            "1-2 cluster IPs, one per family");
        foreach (var port in service.Ports)
        {
            Check(IsPort(port.Port), $"port {port.Port} in 1-65535");
            Check(Enum.IsDefined(port.Protocol), "protocol is known");
            Check(port.Name.Length == 0 || IsLabel(port.Name), $"port name '{port.Name}' is a DNS label");
            Check(port.Name.Length > 0 || service.Ports.Count == 1, "ports are named when there are several");
            Check(port.TargetPort.Number is { } number ? IsPort(number) && port.TargetPort.Name is null
                    : port.TargetPort.Name is { Length: >= 1 and <= 15 } name && IanaName().IsMatch(name) && name.Any(char.IsAsciiLetterLower) && name[^1] != '-',
                $"targetPort {port.TargetPort} is a port or an IANA service name");
            Check(port.NodePort is null || IsPort(port.NodePort.Value), $"nodePort {port.NodePort} in 1-65535");
        }
        Check(service.Ports.Select(p => p.Name).Distinct().Count() == service.Ports.Count, "port names are unique");
        Check(service.Ports.Select(p => (p.Port, p.Protocol)).Distinct().Count() == service.Ports.Count, "port/protocol pairs are unique");
        Check(Enum.IsDefined(service.SessionAffinity), "session affinity is known");
        Check(service.SessionAffinityTimeoutSeconds is >= 1 and <= 86400, "affinity timeout in 1-86400");
        Check(Enum.IsDefined(service.InternalTrafficPolicy) && Enum.IsDefined(service.ExternalTrafficPolicy), "traffic policies are known");
        Check(service.ExternalIPs.All(ip => ip is not null), "external IPs are addresses");
        Check(service.LoadBalancerIngress.All(entry => entry.Ip is not null && Enum.IsDefined(entry.IPMode)), "ingress IPs and modes are valid");
        Check(service.Type == ServiceType.LoadBalancer || service.LoadBalancerIngress.Count == 0, "only a LoadBalancer has ingress IPs");
        foreach (var range in service.LoadBalancerSourceRanges)
        {
            var bits = range.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
            Check(range.PrefixLength >= 0 && range.PrefixLength <= bits, $"source range {range}: prefix within {bits}");
            Check(range.BaseAddress.Equals(ManifestGenerators.Mask(range.BaseAddress, range.PrefixLength)), $"source range {range}: no host bits");
        }
        Check(service.HealthCheckNodePort is null || IsPort(service.HealthCheckNodePort.Value), "healthCheckNodePort in 1-65535");
        return broken;
    }

    public static List<string> Of(EndpointSlice slice)
    {
        var broken = new List<string>();
        void Check(bool ok, string rule)
        {
            if (!ok)
                broken.Add(rule);
        }

        Check(IsLabel(slice.Namespace), $"namespace '{slice.Namespace}' is a DNS label");
        Check(slice.Name.Length <= 253 && DnsSubdomain().IsMatch(slice.Name), $"name '{slice.Name}' is a DNS subdomain");
        Check(slice.ServiceName.Length > 0, "the Service is named");
        Check(Enum.IsDefined(slice.AddressType), "address type is known");
        var family = slice.AddressType == AddressType.IPv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork;
        foreach (var endpoint in slice.Endpoints)
        {
            if (slice.AddressType == AddressType.Fqdn)
                continue;
            Check(endpoint.Addresses.Count >= 1, "an endpoint has an address");
            Check(endpoint.Addresses.All(address => address is not null && address.AddressFamily == family), $"addresses are {slice.AddressType}");
            Check(endpoint.Hints is null || endpoint.Hints.ForZones.Concat(endpoint.Hints.ForNodes).All(name => name.Length > 0), "hints are named");
        }
        foreach (var port in slice.Ports)
        {
            Check(port.Port is null || IsPort(port.Port.Value), $"port {port.Port} in 1-65535");
            Check(port.Name.Length == 0 || IsLabel(port.Name), $"port name '{port.Name}' is a DNS label");
            Check(Enum.IsDefined(port.Protocol), "protocol is known");
        }
        return broken;
    }

    /// <summary>Does a reason lead with <paramref name="path"/> or one of its ancestors ("spec.ports[0]" for "spec.ports[0].port")?</summary>
    public static bool LeadsWithPath(string reason, string path)
    {
        var colon = reason.IndexOf(": ", StringComparison.Ordinal);
        if (colon <= 0)
            return false;
        // System.Text.Json writes a dictionary key with dots as ['key'] (metadata.labels['kubernetes.io/service-name']).
        var leading = Regex.Replace(reason[..colon], @"\['([^']*)'\]", ".$1");
        return path == leading || path.StartsWith(leading + ".", StringComparison.Ordinal) || path.StartsWith(leading + "[", StringComparison.Ordinal);
    }

    public static bool IsAddress(IPAddress? address) => address is not null;
}
