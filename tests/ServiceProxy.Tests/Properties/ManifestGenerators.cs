using System.Net;
using FsCheck;
using FsCheck.Fluent;
using ProxyReplacement.ServiceProxy.Model;
using static ProxyReplacement.ServiceProxy.Tests.Properties.MNode;

namespace ProxyReplacement.ServiceProxy.Tests.Properties;

/// <summary>A generated object: its tree, and the model a correct reader must make of it (null when it is mutated).</summary>
public sealed record GeneratedObject(string Kind, MMap Tree, object? Expected, string? Mutation = null, Expectation? Outcome = null)
{
    public override string ToString() => $"{Kind} {Mutation ?? "(valid)"}\n{ManifestText.Yaml(Tree)}";
}

/// <summary>What a mutation must lead to: rejection with a reason on <see cref="Path"/> (or an ancestor of it), or either outcome.</summary>
public sealed record Expectation(bool MustReject, string Path, IReadOnlyList<string>? OtherPaths = null);

/// <summary>
/// Generators of valid <c>v1 Service</c> and <c>discovery.k8s.io/v1 EndpointSlice</c> manifests with the model each
/// must become (written from the Kubernetes API's documented defaults, not from the parser), and of mutations of them.
/// </summary>
public static class ManifestGenerators
{
    private static readonly string[] Namespaces = ["default", "apps", "kube-system", "team-1"];

    private static Gen<T?> Maybe<T>(Gen<T> gen) where T : class =>
        Gen.Frequency((1, Gen.Constant<T?>(null)), (2, gen.Select(v => (T?)v)));

    private static Gen<int?> MaybeInt(Gen<int> gen) =>
        Gen.Frequency((1, Gen.Constant<int?>(null)), (2, gen.Select(v => (int?)v)));

    public static Gen<IPAddress> Ipv4(int a, int b) =>
        from c in Gen.Choose(0, 255)
        from d in Gen.Choose(1, 254)
        select new IPAddress([(byte)a, (byte)b, (byte)c, (byte)d]);

    public static Gen<IPAddress> Ipv6 =>
        Gen.Choose(1, 0xffff).Select(n => IPAddress.Parse($"fd00:10:96::{n:x}"));

    private static Gen<IPAddress> PublicIp =>
        Gen.OneOf(Ipv4(203, 0), Ipv4(198, 51), Ipv4(192, 0), Ipv6);

    private static Gen<string> DnsLabel =>
        Gen.Elements("http", "https", "dns", "metrics", "grpc-web", "p0", "a1", "x");

    /// <summary>IANA service names (named targetPorts): 1-15 characters, a letter, no leading/trailing/double '-'.</summary>
    private static Gen<string> PortName => Gen.Elements("http", "web-alt", "h2c", "dns-tcp", "p8080x", "a");

    private static Gen<IPNetwork> Cidr =>
        from address in Gen.OneOf(Ipv4(203, 0), Ipv4(10, 0), Ipv4(192, 168))
        from prefix in Gen.Choose(0, 32)
        select new IPNetwork(Mask(address, prefix), prefix);

    public static IPAddress Mask(IPAddress address, int prefix)
    {
        var bytes = address.GetAddressBytes();
        for (var bit = prefix; bit < bytes.Length * 8; bit++)
            bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        return new IPAddress(bytes);
    }

    private sealed record PortChoice(string? Name, string? Protocol, int Port, (int? Number, string? Name)? Target, int? NodePort);

    /// <summary>A valid Service named <paramref name="name"/>, and the model it must become.</summary>
    public static Gen<GeneratedObject> Service(string name) =>
        from ns in Maybe(Gen.Elements(Namespaces))
        from type in Maybe(Gen.Elements("ClusterIP", "NodePort", "LoadBalancer"))
        from v4 in Ipv4(10, 96)
        from v6 in Ipv6
        from ipForm in Gen.Choose(0, 3)
        from portCount in Gen.Choose(1, 3)
        from ports in Gen.ListOf(PortGen(type is "NodePort" or "LoadBalancer"), portCount)
        from affinity in Maybe(Gen.Elements("None", "ClientIP"))
        from timeout in MaybeInt(Gen.Choose(1, 86400))
        from internalPolicy in Maybe(Gen.Elements("Cluster", "Local"))
        from externalPolicy in Maybe(Gen.Elements("Cluster", "Local"))
        from externalIPs in Gen.ListOf(PublicIp, 2).SelectMany(all => Gen.Choose(0, 2).Select(n => all.Take(n).ToList()))
        from ranges in Gen.ListOf(Cidr, 2).SelectMany(all => Gen.Choose(0, 2).Select(n => all.Take(n).ToList()))
        from unmasked in Gen.Elements(true, false)
        from healthCheck in MaybeInt(Gen.Choose(30000, 32767))
        from ingress in Gen.ListOf(from ip in PublicIp from mode in Maybe(Gen.Elements("VIP", "Proxy")) from hostnameOnly in Gen.Frequency((1, Gen.Constant(true)), (4, Gen.Constant(false))) select (ip, mode, hostnameOnly), 2)
            .SelectMany(all => Gen.Choose(0, 2).Select(n => all.Take(n).ToList()))
        from label in Maybe(Gen.Elements("web", "db", "cache"))
        select BuildService(name, ns, type, v4, v6, ipForm, Distinct(ports), affinity, timeout, internalPolicy, externalPolicy,
            externalIPs, ranges, unmasked, healthCheck, ingress, label);

    private static List<PortChoice> Distinct(IReadOnlyList<PortChoice> ports)
    {
        // One Service port per number and protocol; names unique and required when there is more than one.
        var result = new List<PortChoice>();
        foreach (var port in ports)
        {
            var protocol = port.Protocol ?? "TCP";
            if (result.Any(other => other.Port == port.Port && (other.Protocol ?? "TCP") == protocol))
                continue;
            result.Add(port);
        }
        return result.Count == 1 ? result : result.Select((port, i) => port with { Name = $"{port.Name ?? "p"}-{i}" }).ToList();
    }

    private static Gen<PortChoice> PortGen(bool nodePorts) =>
        from name in Maybe(DnsLabel)
        from protocol in Maybe(Gen.Elements("TCP", "UDP", "SCTP"))
        from port in Gen.Frequency((3, Gen.Choose(1, 1024)), (1, Gen.Choose(1, 65535)))
        from targetKind in Gen.Choose(0, 2)
        from targetNumber in Gen.Choose(1, 65535)
        from targetName in PortName
        from nodePort in nodePorts ? MaybeInt(Gen.Choose(30000, 32767)) : Gen.Constant<int?>(null)
        select new PortChoice(name, protocol, port,
            targetKind switch { 0 => null, 1 => (targetNumber, null), _ => (null, targetName) }, nodePort);

    private static GeneratedObject BuildService(string name, string? ns, string? type, IPAddress v4, IPAddress v6, int ipForm,
        List<PortChoice> ports, string? affinity, int? timeout, string? internalPolicy, string? externalPolicy,
        List<IPAddress> externalIPs, List<IPNetwork> ranges, bool unmasked, int? healthCheck,
        List<(IPAddress Ip, string? Mode, bool HostnameOnly)> ingress, string? label)
    {
        var clusterIPs = ipForm == 3 ? new[] { v4, v6 } : [v4];
        MNode Ip(IPAddress ip) => Str(ip.ToString(), LeafKind.Ip);
        var isLoadBalancer = type == "LoadBalancer";
        var tree = Map(
            ("apiVersion", Str("v1")),
            ("kind", Str("Service")),
            ("metadata", Map(
                ("name", Str(name, LeafKind.Name)),
                ("namespace", ns is null ? null : Str(ns, LeafKind.Name)),
                ("labels", label is null ? null : Map(("app", Str(label)))))),
            ("spec", Map(
                ("type", type is null ? null : Str(type, LeafKind.Enum)),
                ("clusterIP", ipForm is 0 or 2 or 3 ? Ip(v4) : null),
                ("clusterIPs", ipForm is 1 or 2 or 3 ? Seq(clusterIPs.Select(Ip)) : null),
                ("ports", Seq(ports.Select(port => Map(
                    ("name", port.Name is null ? null : Str(port.Name, LeafKind.Name)),
                    ("protocol", port.Protocol is null ? null : Str(port.Protocol, LeafKind.Enum)),
                    ("port", Num(port.Port, LeafKind.Port)),
                    ("targetPort", port.Target switch
                    {
                        null => null,
                        ({ } number, _) => Num(number, LeafKind.Port),
                        (_, var text) => Str(text!, LeafKind.PortName),
                    }),
                    ("nodePort", port.NodePort is { } nodePort ? Num(nodePort, LeafKind.OptionalPort) : null))))),
                ("sessionAffinity", affinity is null ? null : Str(affinity, LeafKind.Enum)),
                ("sessionAffinityConfig", timeout is null ? null : Map(("clientIP", Map(("timeoutSeconds", Num(timeout.Value, LeafKind.Timeout)))))),
                ("internalTrafficPolicy", internalPolicy is null ? null : Str(internalPolicy, LeafKind.Enum)),
                ("externalTrafficPolicy", externalPolicy is null ? null : Str(externalPolicy, LeafKind.Enum)),
                ("externalIPs", externalIPs.Count == 0 ? null : Seq(externalIPs.Select(Ip))),
                ("loadBalancerSourceRanges", ranges.Count == 0 ? null : Seq(ranges.Select(range =>
                    Str($"{(unmasked && range.PrefixLength < 32 ? Unmask(range) : range.BaseAddress)}/{range.PrefixLength}", LeafKind.Cidr)))),
                ("healthCheckNodePort", healthCheck is { } port ? Num(port, LeafKind.OptionalPort) : null))),
            ("status", isLoadBalancer && ingress.Count > 0 ? Map(("loadBalancer", Map(("ingress", Seq(ingress.Select(IngressEntry)))))) : null));

        MNode IngressEntry((IPAddress Ip, string? Mode, bool HostnameOnly) entry) => entry.HostnameOnly
            ? Map(("hostname", Str("lb.example.com")))
            : Map(("ip", Ip(entry.Ip)), ("ipMode", entry.Mode is null ? null : Str(entry.Mode, LeafKind.Enum)));

        var expected = new Service(
            ns ?? "default", name,
            label is null ? Labels.Empty : Labels.From([new("app", label)]),
            type switch { "NodePort" => ServiceType.NodePort, "LoadBalancer" => ServiceType.LoadBalancer, _ => ServiceType.ClusterIP },
            clusterIPs.ToEquatableList(),
            ports.Select(port => new ServicePort(port.Name ?? "",
                port.Protocol switch { "UDP" => Protocol.Udp, "SCTP" => Protocol.Sctp, _ => Protocol.Tcp },
                port.Port,
                port.Target switch
                {
                    null => TargetPort.FromNumber(port.Port),
                    ({ } number, _) => TargetPort.FromNumber(number),
                    (_, var text) => TargetPort.FromName(text!),
                },
                port.NodePort)).ToEquatableList(),
            affinity == "ClientIP" ? SessionAffinity.ClientIP : SessionAffinity.None,
            timeout ?? 10800,
            internalPolicy == "Local" ? TrafficPolicy.Local : TrafficPolicy.Cluster,
            externalPolicy == "Local" ? TrafficPolicy.Local : TrafficPolicy.Cluster,
            externalIPs.ToEquatableList(),
            isLoadBalancer
                ? ingress.Where(entry => !entry.HostnameOnly)
                    .Select(entry => new LoadBalancerIngress(entry.Ip, entry.Mode == "Proxy" ? LoadBalancerIPMode.Proxy : LoadBalancerIPMode.Vip))
                    .ToEquatableList()
                : EquatableList<LoadBalancerIngress>.Empty,
            ranges.ToEquatableList(),
            healthCheck);
        return new GeneratedObject("Service", tree, expected);
    }

    /// <summary>The network's base address with host bits set: kube-proxy accepts 10.0.0.1/8 as 10.0.0.0/8.</summary>
    private static IPAddress Unmask(IPNetwork range)
    {
        var bytes = range.BaseAddress.GetAddressBytes();
        bytes[^1] |= 1;
        return new IPAddress(bytes);
    }

    /// <summary>A valid EndpointSlice named <paramref name="name"/> for Service <paramref name="service"/>, and its model.</summary>
    public static Gen<GeneratedObject> EndpointSlice(string name, string service) =>
        from ns in Maybe(Gen.Elements(Namespaces))
        from v6 in Gen.Frequency((4, Gen.Constant(false)), (1, Gen.Constant(true)))
        from endpoints in Gen.ListOf(EndpointGen(v6), 4).SelectMany(all => Gen.Choose(0, 4).Select(n => all.Take(n).ToList()))
        from ports in Gen.ListOf(
                from portName in Maybe(DnsLabel)
                from protocol in Maybe(Gen.Elements("TCP", "UDP", "SCTP"))
                from port in MaybeInt(Gen.Choose(1, 65535))
                select (portName, protocol, port), 2)
            .SelectMany(all => Gen.Choose(0, 2).Select(n => all.Take(n).ToList()))
        select BuildSlice(name, service, ns, v6, endpoints, ports);

    private sealed record EndpointChoice(List<IPAddress> Addresses, bool? Ready, bool? Serving, bool? Terminating, string? Node, string? Zone,
        List<string>? ForZones, List<string>? ForNodes);

    private static Gen<EndpointChoice> EndpointGen(bool v6) =>
        from first in v6 ? Ipv6 : Ipv4(10, 244)
        from second in v6 ? Ipv6 : Ipv4(10, 244)
        from two in Gen.Frequency((5, Gen.Constant(false)), (1, Gen.Constant(true)))
        from ready in Gen.Elements<bool?>(null, true, false, true)
        from serving in Gen.Elements<bool?>(null, true, false)
        from terminating in Gen.Elements<bool?>(null, false, true)
        from node in Maybe(Gen.Elements("node-a", "node-b"))
        from zone in Maybe(Gen.Elements("zone-1", "zone-2"))
        from hints in Gen.Frequency((3, Gen.Constant(false)), (1, Gen.Constant(true)))
        select new EndpointChoice(two ? [first, second] : [first], ready, serving, terminating, node, zone,
            hints ? ["zone-1"] : null, hints ? ["node-a"] : null);

    private static GeneratedObject BuildSlice(string name, string service, string? ns, bool v6, List<EndpointChoice> endpoints,
        List<(string? Name, string? Protocol, int? Port)> ports)
    {
        var tree = Map(
            ("apiVersion", Str("discovery.k8s.io/v1")),
            ("kind", Str("EndpointSlice")),
            ("metadata", Map(
                ("name", Str(name, LeafKind.Name)),
                ("namespace", ns is null ? null : Str(ns, LeafKind.Name)),
                ("labels", Map(("kubernetes.io/service-name", Str(service, LeafKind.Name)))))),
            ("addressType", Str(v6 ? "IPv6" : "IPv4", LeafKind.Enum)),
            ("endpoints", Seq(endpoints.Select(endpoint => Map(
                ("addresses", Seq(endpoint.Addresses.Select(ip => Str(ip.ToString(), LeafKind.Ip)))),
                ("conditions", endpoint is { Ready: null, Serving: null, Terminating: null } ? null : Map(
                    ("ready", endpoint.Ready is { } ready ? Bool(ready) : null),
                    ("serving", endpoint.Serving is { } serving ? Bool(serving) : null),
                    ("terminating", endpoint.Terminating is { } terminating ? Bool(terminating) : null))),
                ("nodeName", endpoint.Node is null ? null : Str(endpoint.Node)),
                ("zone", endpoint.Zone is null ? null : Str(endpoint.Zone)),
                ("hints", endpoint.ForZones is null ? null : Map(
                    ("forZones", Seq(endpoint.ForZones.Select(zone => Map(("name", Str(zone)))))),
                    ("forNodes", Seq(endpoint.ForNodes!.Select(node => Map(("name", Str(node))))))))))) ),
            ("ports", Seq(ports.Select(port => Map(
                ("name", port.Name is null ? null : Str(port.Name, LeafKind.Name)),
                ("protocol", port.Protocol is null ? null : Str(port.Protocol, LeafKind.Enum)),
                ("port", port.Port is { } number ? Num(number, LeafKind.Port) : null))))));

        var expected = new EndpointSlice(ns ?? "default", name, service, v6 ? AddressType.IPv6 : AddressType.IPv4,
            endpoints.Select(endpoint => new SliceEndpoint(endpoint.Addresses.ToEquatableList(),
                new EndpointConditions(endpoint.Ready, endpoint.Serving, endpoint.Terminating), endpoint.Node, endpoint.Zone,
                endpoint.ForZones is null ? null : new EndpointHints(endpoint.ForZones.ToEquatableList(), endpoint.ForNodes!.ToEquatableList())))
                .ToEquatableList(),
            ports.Select(port => new EndpointPort(port.Name ?? "",
                port.Protocol switch { "UDP" => Protocol.Udp, "SCTP" => Protocol.Sctp, _ => Protocol.Tcp }, port.Port)).ToEquatableList());
        return new GeneratedObject("EndpointSlice", tree, expected);
    }

    /// <summary>A valid object of either kind; slices name Services of the same generated set (svc-0..).</summary>
    public static Gen<GeneratedObject> AnyObject(int index) =>
        Gen.OneOf(Service($"svc-{index}"), Gen.Choose(0, 3).SelectMany(target => EndpointSlice($"slice-{index}", $"svc-{target}")));

    // ---------------------------------------------------------------- mutations

    private static readonly string[] BadIps = ["10.0.0", "256.1.1.1", "010.1.1.1", "1.2.3.4.5", "abc", "10.0.0.1/24", "fe80::1%eth0", " 10.0.0.1", "1.2.3.-4", "null", "0x0a000001"];
    private static readonly string[] BadCidrs = ["10.0.0.0/33", "10.0.0.0", "10.0.0.0/", "10.0.0.0/-1", "1.2.3/8", "10.0.0.0/8/8", "/8", "10.0.0.0/ 8", "::/129"];
    private static readonly string[] BadNames = ["Upper", "-lead", "trail-", "under_score", "a b", ""];

    /// <summary>
    /// One mutation of a valid object: a field removed, a value of the wrong type, an out-of-range number, a bad IP
    /// or CIDR, an unknown enum value, a number written as a string. Returns the mutated object with what it must
    /// lead to (see <see cref="Expect"/>).
    /// </summary>
    public static Gen<GeneratedObject> Mutate(GeneratedObject valid)
    {
        var paths = ManifestText.Walk(valid.Tree).ToList();
        return from target in Gen.Elements(paths.ToArray())
               from how in Gen.Choose(0, 5)
               from pick in Gen.Choose(0, 1000)
               select Apply(valid, target, how, pick);
    }

    private static GeneratedObject Apply(GeneratedObject valid, MPath target, int how, int pick)
    {
        MNode? replacement;
        string description;
        switch (target.Node, how)
        {
            case (_, 0):
                replacement = null;
                description = $"removed {target.Path}";
                break;
            case (MScalar, 1) or (MScalar { Kind: LeafKind.Text or LeafKind.Bool }, _):
                replacement = pick % 2 == 0 ? Map(("x", Str("y"))) : Seq([Str("y")]);
                description = $"{target.Path} of the wrong type";
                break;
            case (MScalar { Kind: LeafKind.Ip }, _):
                replacement = Str(BadIps[pick % BadIps.Length], LeafKind.Ip);
                description = $"{target.Path} a bad IP";
                break;
            case (MScalar { Kind: LeafKind.Cidr }, _):
                replacement = Str(BadCidrs[pick % BadCidrs.Length], LeafKind.Cidr);
                description = $"{target.Path} a bad CIDR";
                break;
            case (MScalar { Kind: LeafKind.Port or LeafKind.OptionalPort or LeafKind.Timeout } number, _):
                replacement = (how % 3) switch
                {
                    0 => Str(number.Text, number.Kind), // "80": a string where a number belongs
                    1 => Num(new long[] { -1, 65536, 2147483648, 99999999999, 86401, 0 }[pick % 6], number.Kind),
                    _ => Num(number.Kind == LeafKind.Timeout ? 86401 : 65536 + pick, number.Kind),
                };
                description = $"{target.Path} = {ManifestText.Json(replacement)}";
                break;
            case (MScalar { Kind: LeafKind.Enum } value, _):
                replacement = Str((pick % 3) switch { 0 => "Bogus", 1 => value.Text.ToLowerInvariant(), _ => "" }, LeafKind.Enum);
                description = $"{target.Path} an unknown value";
                break;
            case (MScalar { Kind: LeafKind.Name or LeafKind.PortName }, _):
                replacement = Str(BadNames[pick % BadNames.Length], LeafKind.Name);
                description = $"{target.Path} an invalid name";
                break;
            case (MScalar, _):
                replacement = Seq([]);
                description = $"{target.Path} of the wrong type";
                break;
            default: // a map or a list
                replacement = (how + pick) % 2 == 0 ? Str("x") : target.Node is MMap ? Seq([Str("x")]) : Map(("x", Str("y")));
                description = $"{target.Path} of the wrong type";
                break;
        }
        var tree = (MMap)ManifestText.Replace(valid.Tree, target.Steps, replacement);
        return new GeneratedObject(valid.Kind, tree, null, description, Expect(valid, target, replacement));
    }

    /// <summary>
    /// The outcome a mutation must have. Rejected, with the mutated field's path (or an ancestor's) leading the reason,
    /// whenever the field is one the reader reads and the new value breaks its rule; otherwise either outcome.
    /// </summary>
    private static Expectation Expect(GeneratedObject valid, MPath target, MNode? replacement)
    {
        var path = target.Path;
        var service = valid.Expected as Service;
        var may = new Expectation(false, path);
        var must = new Expectation(true, path);
        if (path is "kind" && replacement is null or MScalar)
            return may; // no longer a Service or EndpointSlice: ignored, like any other kind
        if (path is "status" or "status.loadBalancer" or "status.loadBalancer.ingress" || path.StartsWith("status.loadBalancer.ingress[", StringComparison.Ordinal))
        {
            // Read whatever the type (shape errors), used only by LoadBalancer Services (value errors).
            if (replacement is null || (replacement is MScalar { Kind: LeafKind.Ip or LeafKind.Enum } && service?.Type != ServiceType.LoadBalancer))
                return may;
            if (replacement is MScalar { Kind: LeafKind.Ip or LeafKind.Enum } && path.EndsWith(".ip", StringComparison.Ordinal) &&
                ((MScalar)replacement).Text.Length == 0)
                return may;
            return must;
        }
        switch (replacement)
        {
            case null:
                return path switch
                {
                    "apiVersion" or "metadata" or "metadata.name" or "spec" or "addressType" => must,
                    "metadata.labels" or "metadata.labels.kubernetes.io/service-name" when valid.Kind == "EndpointSlice" => must with { Path = "metadata.labels" },
                    "spec.clusterIP" when target.Node is MScalar && service is not null && !HasClusterIPs(valid.Tree) => must,
                    "spec.clusterIPs" when !HasClusterIP(valid.Tree) => must with { Path = "spec.clusterIP" },
                    "spec.clusterIPs[0]" when HasClusterIP(valid.Tree) && ((MSeq)((MMap)valid.Tree["spec"]!)["clusterIPs"]!).Items.Count > 1 => must,
                    _ when IsPortNumber(path) => must,
                    _ when path.EndsWith(".addresses", StringComparison.Ordinal) => must,
                    _ when path.EndsWith(".addresses[0]", StringComparison.Ordinal) && AddressCount(valid.Tree, target) == 1 => must with { Path = path[..^3] },
                    _ when path.StartsWith("spec.ports[", StringComparison.Ordinal) && path.EndsWith("].name", StringComparison.Ordinal) && service!.Ports.Count > 1 => must,
                    _ => may,
                };
            case MScalar { Kind: LeafKind.Port or LeafKind.Timeout or LeafKind.OptionalPort } number:
                if (number.Kind == LeafKind.OptionalPort && number.Plain && number.Text == "0")
                    return may; // 0 = not set
                if (path.StartsWith("ports[", StringComparison.Ordinal) && number.Plain && number.Text is "0")
                    return must;
                if (number.Plain && long.Parse(number.Text) is >= 1 and <= 65535 && number.Kind != LeafKind.Timeout)
                    return may;
                if (number.Plain && number.Kind == LeafKind.Timeout && long.Parse(number.Text) is >= 1 and <= 86400)
                    return may;
                // Quoted, "8080" is a string: wrong for an integer field, and for the int-or-string targetPort a name without a letter.
                return must;
            case MScalar { Kind: LeafKind.Ip }:
                if (path == "spec.clusterIP" && HasClusterIPs(valid.Tree))
                    return must with { Path = "spec.clusterIPs[0]", OtherPaths = ["spec.clusterIP"] };
                return must;
            case MScalar { Kind: LeafKind.Cidr or LeafKind.Enum }:
                return must;
            case MScalar { Kind: LeafKind.Name } name:
                if (path == "metadata.labels.kubernetes.io/service-name")
                    return name.Text.Length == 0 ? must with { Path = "metadata.labels" } : may; // the value is not checked as a name
                if (path.EndsWith("].name", StringComparison.Ordinal) && name.Text.Length == 0)
                    return may; // an empty port name is "unnamed"
                return must;
            case MScalar:
                return may;
            default: // a container where a scalar, or the other container, belongs
                return must;
        }
    }

    private static bool IsPortNumber(string path) =>
        path.StartsWith("spec.ports[", StringComparison.Ordinal) && path.EndsWith("].port", StringComparison.Ordinal);

    private static bool HasClusterIP(MMap tree) => (tree["spec"] as MMap)?["clusterIP"] is not null;
    private static bool HasClusterIPs(MMap tree) => (tree["spec"] as MMap)?["clusterIPs"] is MSeq { Items.Count: > 0 };

    private static int AddressCount(MMap tree, MPath target)
    {
        var endpoint = (int)target.Steps[1];
        return ((((tree["endpoints"] as MSeq)!.Items[endpoint]) as MMap)!["addresses"] as MSeq)!.Items.Count;
    }
}
