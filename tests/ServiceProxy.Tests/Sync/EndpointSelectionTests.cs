using System.Net;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Tests.Sync;

/// <summary>
/// The selection table: every case of kube-proxy's own <c>TestCategorizeEndpoints</c> (ready, serving and terminating ×
/// local and remote × hints present, partial or absent × each policy), written from its rules, plus node hints
/// (PreferSameNode), which addresses make a port externally reachable, and the explanations <c>dump</c> shows.
/// Endpoints are named by their last octet: "3" is 10.1.2.3:80.
/// </summary>
public sealed class EndpointSelectionTests
{
    private const string ThisNode = "node-a";

    /// <summary>One row: the Service's shape, this node's zone, the endpoints, and the expected sets (null = no such set).</summary>
    public sealed record Row(
        string Name,
        Shape Shape,
        string? Zone,
        EndpointCandidate[] Endpoints,
        string[]? Cluster,
        string[]? Local,
        bool? HasAny = null)
    {
        public override string ToString() => Name;
    }

    /// <summary>The Service as far as selection cares.</summary>
    public sealed record Shape(ServiceType Type = ServiceType.ClusterIP, TrafficPolicy Internal = TrafficPolicy.Cluster,
        TrafficPolicy External = TrafficPolicy.Cluster, int? NodePort = null, string[]? ExternalIPs = null,
        LoadBalancerIngress[]? Ingress = null);

    private static readonly Shape ClusterIP = new();
    private static readonly Shape NodePortETPLocal = new(ServiceType.NodePort, External: TrafficPolicy.Local, NodePort: 30080);
    private static readonly Shape NodePortITPLocal = new(ServiceType.NodePort, Internal: TrafficPolicy.Local, NodePort: 30080);
    private static readonly Shape NodePortBothLocal = new(ServiceType.NodePort, TrafficPolicy.Local, TrafficPolicy.Local, 30080);
    private static readonly Shape ITPLocal = new(Internal: TrafficPolicy.Local);

    private static EndpointCandidate Ep(int octet, bool ready = true, bool? serving = null, bool terminating = false, bool local = false,
        string[]? zones = null, string[]? nodes = null) =>
        new(IPAddress.Parse($"10.1.2.{octet}"), 80, ready, serving ?? ready, terminating, local ? ThisNode : "node-z", null,
            zones is null && nodes is null ? null : new EndpointHints((zones ?? []).ToEquatableList(), (nodes ?? []).ToEquatableList()));

    private static EndpointCandidate Terminating(int octet, bool local = false) => Ep(octet, ready: false, serving: true, terminating: true, local: local);

    private static string[] Names(params int[] octets) => octets.Select(o => o.ToString()).ToArray();

    public static IEnumerable<Row> Rows() =>
    [
        // --- topology (kube-proxy's cases) ---
        new("zone hints: all endpoints hinted, node zone matches", ClusterIP, "zone-a",
            [Ep(3, zones: ["zone-a"]), Ep(4, zones: ["zone-b"]), Ep(5, zones: ["zone-c"]), Ep(6, zones: ["zone-a"])],
            Names(3, 6), null),
        new("eTP=Local: topology ignored for the local set", NodePortETPLocal, "zone-a",
            [Ep(3, zones: ["zone-a"], local: true), Ep(4, zones: ["zone-b"], local: true), Ep(5, zones: ["zone-c"]), Ep(6, zones: ["zone-a"])],
            Names(3, 6), Names(3, 4)),
        new("iTP=Local: topology ignored for the local set", NodePortITPLocal, "zone-a",
            [Ep(3, zones: ["zone-a"], local: true), Ep(4, zones: ["zone-b"], local: true), Ep(5, zones: ["zone-c"]), Ep(6, zones: ["zone-a"])],
            Names(3, 6), Names(3, 4)),
        new("node without zone label: hints ignored", ClusterIP, null,
            [Ep(3, zones: ["zone-a"])], Names(3), null),
        new("node with an empty zone label: hints ignored", ClusterIP, "",
            [Ep(3, zones: ["zone-a"])], Names(3), null),
        new("node in a zone no endpoint is hinted for: no filtering", ClusterIP, "zone-b",
            [Ep(3, zones: ["zone-a"])], Names(3), null),
        new("an unready endpoint in the zone is not used", ClusterIP, "zone-a",
            [Ep(3, zones: ["zone-a"]), Ep(4, zones: ["zone-b"]), Ep(5, zones: ["zone-c"]), Ep(6, ready: false, zones: ["zone-a"])],
            Names(3), null),
        new("only unready endpoints in the zone: no filtering", ClusterIP, "zone-a",
            [Ep(3, ready: false, zones: ["zone-a"]), Ep(4, zones: ["zone-b"]), Ep(5, zones: ["zone-c"]), Ep(6, ready: false, zones: ["zone-a"])],
            Names(4, 5), null),
        new("partial hints (one endpoint without): no filtering", ClusterIP, "zone-a",
            [Ep(3, zones: ["zone-a"]), Ep(4, zones: ["zone-b"]), Ep(5), Ep(6, zones: ["zone-a"])],
            Names(3, 4, 5, 6), null),
        new("partial hints on unready endpoints only do not count", ClusterIP, "zone-a",
            [Ep(3, zones: ["zone-a"]), Ep(4, zones: ["zone-b"]), Ep(5, ready: false)],
            Names(3), null),
        new("several zones per endpoint: any endpoint hinted for the zone", ClusterIP, "zone-c",
            [Ep(3, zones: ["zone-a", "zone-b", "zone-c"]), Ep(4, zones: ["zone-b", "zone-c"]), Ep(5, zones: ["zone-b", "zone-d"]), Ep(6, zones: ["zone-c"])],
            Names(3, 4, 6), null),
        new("topology and localness conflict: the sets differ", NodePortETPLocal, "zone-a",
            [Ep(0, zones: ["zone-a"], local: true), Ep(1, zones: ["zone-b"], local: true), Ep(2, zones: ["zone-a"]), Ep(3, zones: ["zone-b"])],
            Names(0, 2), Names(0, 1)),

        // --- node hints (trafficDistribution: PreferSameNode) ---
        new("node hints: all endpoints hinted, some for this node", ClusterIP, "zone-a",
            [Ep(1, local: true, zones: ["zone-a"], nodes: [ThisNode]), Ep(2, zones: ["zone-a"], nodes: ["node-b"]), Ep(3, zones: ["zone-b"], nodes: ["node-c"])],
            Names(1), null),
        new("node hints win over zone hints", ClusterIP, "zone-a",
            [Ep(1, local: true, zones: ["zone-b"], nodes: [ThisNode]), Ep(2, zones: ["zone-a"], nodes: ["node-b"])],
            Names(1), null),
        new("node hints none for this node: zone hints apply", ClusterIP, "zone-a",
            [Ep(1, zones: ["zone-a"], nodes: ["node-b"]), Ep(2, zones: ["zone-b"], nodes: ["node-c"])],
            Names(1), null),
        new("node hints partial: zone hints apply", ClusterIP, "zone-a",
            [Ep(1, zones: ["zone-a"], nodes: [ThisNode]), Ep(2, zones: ["zone-a"]), Ep(3, zones: ["zone-b"], nodes: ["node-c"])],
            Names(1, 2), null),
        new("node hints partial, no zone hints: no filtering", ClusterIP, "zone-a",
            [Ep(1, nodes: [ThisNode]), Ep(2), Ep(3, nodes: ["node-c"])],
            Names(1, 2, 3), null),
        new("node hints none for this node, no zone hints: no filtering", ClusterIP, "zone-a",
            [Ep(1, nodes: ["node-b"]), Ep(2, nodes: ["node-c"])],
            Names(1, 2), null),

        // --- internal traffic policy ---
        new("iTP=Local without endpoints", ITPLocal, null, [], null, [], HasAny: false),
        new("iTP=Local, all endpoints remote: an empty local set, but endpoints exist", ITPLocal, null,
            [Ep(0), Ep(1)], null, [], HasAny: true),
        new("iTP=Local, all endpoints local", ITPLocal, null,
            [Ep(0, local: true), Ep(1, local: true)], null, Names(0, 1)),
        new("iTP=Local, some endpoints local", ITPLocal, null,
            [Ep(0, local: true), Ep(1)], null, Names(0)),
        new("iTP=Local on an internal-only port: no cluster set", ITPLocal, null,
            [Ep(0), Ep(1, local: true)], null, Names(1)),

        // --- readiness and terminating endpoints ---
        new("cluster: no endpoint ready", ClusterIP, null,
            [Ep(0, ready: false), Ep(1, ready: false)], [], null, HasAny: false),
        new("cluster: some endpoints ready", ClusterIP, null,
            [Ep(0, ready: false), Ep(1)], Names(1), null),
        new("cluster: all endpoints terminating: serving-terminating fallback", ClusterIP, null,
            [Terminating(0, local: true), Terminating(1)], Names(0, 1), null, HasAny: true),
        new("cluster: terminating but not serving is never used", ClusterIP, null,
            [Ep(0, ready: false, serving: false, terminating: true), Terminating(1)], Names(1), null),
        new("cluster: a ready endpoint beats terminating ones", ClusterIP, null,
            [Terminating(0), Ep(1), Terminating(2)], Names(1), null),
        new("cluster: the fallback ignores hints", ClusterIP, "zone-a",
            [Ep(0, ready: false, serving: true, terminating: true, zones: ["zone-a"]), Ep(1, ready: false, serving: true, terminating: true, zones: ["zone-b"])],
            Names(0, 1), null),

        // --- both policies, external traffic ---
        new("iTP=Local, eTP=Cluster, some endpoints local", NodePortITPLocal, null,
            [Ep(0, local: true), Ep(1)], Names(0, 1), Names(0)),
        new("iTP=Cluster, eTP=Local, some endpoints local", NodePortETPLocal, null,
            [Ep(0, local: true), Ep(1)], Names(0, 1), Names(0)),
        new("iTP=Local, eTP=Local, some endpoints local", NodePortBothLocal, null,
            [Ep(0, local: true), Ep(1)], Names(0, 1), Names(0)),
        new("iTP=Local, eTP=Local, all endpoints remote", NodePortBothLocal, null,
            [Ep(0), Ep(1)], Names(0, 1), [], HasAny: true),
        new("iTP=Local, eTP=Local, all endpoints remote and terminating", NodePortBothLocal, null,
            [Terminating(0), Terminating(1)], Names(0, 1), [], HasAny: true),
        new("iTP=Cluster, eTP=Local, with terminating endpoints: each set falls back on its own", NodePortETPLocal, null,
            [Ep(0), Ep(1, ready: false, serving: false, local: true), Terminating(2, local: true), Terminating(3)],
            Names(0), Names(2)),
        new("eTP=Local, local endpoint ready and another terminating: ready only", NodePortETPLocal, null,
            [Ep(0, local: true), Terminating(1, local: true), Ep(2)], Names(0, 2), Names(0)),

        // --- which ports are externally reachable ---
        new("eTP=Local ignored on a ClusterIP Service without external IPs", new Shape(External: TrafficPolicy.Local), null,
            [Ep(0), Ep(1, local: true)], Names(0, 1), null),
        new("eTP=Local counts on a ClusterIP Service with external IPs", new Shape(External: TrafficPolicy.Local, ExternalIPs: ["192.0.2.10"]), null,
            [Ep(0), Ep(1, local: true)], Names(0, 1), Names(1)),
        new("eTP=Local on a LoadBalancer without node ports but a VIP ingress", new Shape(ServiceType.LoadBalancer, External: TrafficPolicy.Local,
                Ingress: [new LoadBalancerIngress(IPAddress.Parse("198.51.100.7"))]), null,
            [Ep(0), Ep(1, local: true)], Names(0, 1), Names(1)),
        new("eTP=Local on a LoadBalancer without node ports and only a Proxy-mode ingress: not reachable here", new Shape(ServiceType.LoadBalancer,
                External: TrafficPolicy.Local, Ingress: [new LoadBalancerIngress(IPAddress.Parse("198.51.100.7"), LoadBalancerIPMode.Proxy)]), null,
            [Ep(0), Ep(1, local: true)], Names(0, 1), null),
        new("iTP=Local on a ClusterIP Service with external IPs: cluster set for external traffic", new Shape(Internal: TrafficPolicy.Local, ExternalIPs: ["192.0.2.10"]), null,
            [Ep(0), Ep(1, local: true)], Names(0, 1), Names(1)),
    ];

    [TestCaseSource(nameof(Rows))]
    public void Selects_like_kube_proxy(Row row)
    {
        var (service, port) = Build(row.Shape);

        var result = EndpointSelection.Select(service, port, row.Endpoints, new NodeContext(ThisNode, row.Zone));

        Assert.Multiple(() =>
        {
            Assert.That(Octets(result.Cluster), row.Cluster is null ? Is.Null : Is.EquivalentTo(row.Cluster), "cluster set");
            Assert.That(Octets(result.Local), row.Local is null ? Is.Null : Is.EquivalentTo(row.Local), "local set");
            var expectedAny = row.HasAny ?? ((row.Cluster?.Length ?? 0) + (row.Local?.Length ?? 0) > 0);
            Assert.That(result.HasAnyEndpoints, Is.EqualTo(expectedAny), "has any endpoints");
            Assert.That(result.InternalTraffic, Is.EqualTo(row.Shape.Internal == TrafficPolicy.Local ? EndpointSetKind.Local : EndpointSetKind.Cluster));
            if (result.ExternalTraffic is { } external)
                Assert.That(result.SetFor(external), Is.Not.Null);
            Assert.That(result.SetFor(result.InternalTraffic), Is.Not.Null);
        });
    }

    [Test]
    public void The_sets_keep_the_input_order_and_values()
    {
        var (service, port) = Build(NodePortETPLocal);
        var endpoints = new[] { Ep(9, local: true), Ep(2), Ep(5, local: true) };

        var result = EndpointSelection.Select(service, port, endpoints, new NodeContext(ThisNode));

        Assert.That(result.Cluster!.Endpoints, Is.EqualTo(endpoints));
        Assert.That(result.Local!.Endpoints, Is.EqualTo(new[] { endpoints[0], endpoints[2] }));
    }

    [Test]
    public void External_traffic_uses_the_local_set_only_with_an_effective_eTP_Local()
    {
        var endpoints = new[] { Ep(1, local: true), Ep(2) };
        var node = new NodeContext(ThisNode);
        var (etp, etpPort) = Build(NodePortETPLocal);
        var (itp, itpPort) = Build(NodePortITPLocal);
        var (plain, plainPort) = Build(ClusterIP);

        Assert.Multiple(() =>
        {
            var r = EndpointSelection.Select(etp, etpPort, endpoints, node);
            Assert.That((r.InternalTraffic, r.ExternalTraffic), Is.EqualTo((EndpointSetKind.Cluster, (EndpointSetKind?)EndpointSetKind.Local)));
            r = EndpointSelection.Select(itp, itpPort, endpoints, node);
            Assert.That((r.InternalTraffic, r.ExternalTraffic), Is.EqualTo((EndpointSetKind.Local, (EndpointSetKind?)EndpointSetKind.Cluster)));
            r = EndpointSelection.Select(plain, plainPort, endpoints, node);
            Assert.That((r.InternalTraffic, r.ExternalTraffic), Is.EqualTo((EndpointSetKind.Cluster, (EndpointSetKind?)null)));
        });
    }

    public static IEnumerable<TestCaseData> Explanations()
    {
        yield return new TestCaseData(NodePortETPLocal, null, new[] { Ep(1, local: true), Ep(2), Ep(3) },
            new[] { "cluster: 3 of 3 endpoints ready", "local: 1 of 3 endpoints (eTP=Local)" }).SetName("eTP=Local with one local endpoint");
        yield return new TestCaseData(NodePortBothLocal, null, new[] { Ep(2), Ep(3) },
            new[] { "cluster: 2 of 2 endpoints ready", "local: 0 of 2 endpoints on node-a (iTP=Local, eTP=Local)" }).SetName("both Local, none here");
        yield return new TestCaseData(ITPLocal, null, new[] { Terminating(1, local: true), Ep(2) },
            new[] { "local: no ready endpoint on node-a; 1 of 2 endpoints serving and terminating (iTP=Local)" }).SetName("iTP=Local falling back");
        yield return new TestCaseData(ClusterIP, "zone-a", new[] { Ep(1, zones: ["zone-a"]), Ep(2, zones: ["zone-b"]), Ep(3, zones: ["zone-a"]), Ep(4, zones: ["zone-b"]) },
            new[] { "cluster: zone hints for zone-a: 2 of 4 endpoints" }).SetName("zone hints");
        yield return new TestCaseData(ClusterIP, "zone-a", new[] { Ep(1, local: true, nodes: [ThisNode]), Ep(2, nodes: ["node-b"]) },
            new[] { "cluster: node hints for node-a: 1 of 2 endpoints" }).SetName("node hints");
        yield return new TestCaseData(ClusterIP, "zone-a", new[] { Ep(1, zones: ["zone-a"]), Ep(2) },
            new[] { "cluster: 2 of 2 endpoints ready; hints ignored: 1 of 2 ready endpoints without a zone hint" }).SetName("partial zone hints");
        yield return new TestCaseData(ClusterIP, "zone-c", new[] { Ep(1, zones: ["zone-a"]) },
            new[] { "cluster: 1 of 1 endpoints ready; hints ignored: none for zone zone-c" }).SetName("no hint for the zone");
        yield return new TestCaseData(ClusterIP, null, new[] { Ep(1, zones: ["zone-a"]) },
            new[] { "cluster: 1 of 1 endpoints ready; hints ignored: node node-a has no zone label" }).SetName("node without zone");
        yield return new TestCaseData(ClusterIP, null, new[] { Terminating(1), Ep(2, ready: false) },
            new[] { "cluster: no ready endpoint; 1 of 2 endpoints serving and terminating" }).SetName("cluster fallback");
        yield return new TestCaseData(ClusterIP, null, new[] { Ep(2, ready: false) },
            new[] { "cluster: 0 of 1 endpoints ready or serving and terminating" }).SetName("nothing usable");
        yield return new TestCaseData(ClusterIP, null, Array.Empty<EndpointCandidate>(),
            new[] { "cluster: no endpoints" }).SetName("no endpoints");
    }

    [TestCaseSource(nameof(Explanations))]
    public void Explains_each_set(Shape shape, string? zone, EndpointCandidate[] endpoints, string[] expected)
    {
        var (service, port) = Build(shape);

        var result = EndpointSelection.Select(service, port, endpoints, new NodeContext(ThisNode, zone));

        Assert.That(result.Explanations(), Is.EqualTo(expected));
    }

    [Test]
    public void Health_checks_are_for_LoadBalancer_Services_with_an_eTP_Local_and_a_port()
    {
        var (lb, _) = Build(new Shape(ServiceType.LoadBalancer, External: TrafficPolicy.Local, NodePort: 30080));
        Assert.Multiple(() =>
        {
            Assert.That(EndpointSelection.NeedsHealthCheck(lb with { HealthCheckNodePort = 31000 }), Is.True);
            Assert.That(EndpointSelection.NeedsHealthCheck(lb), Is.False, "no healthCheckNodePort");
            Assert.That(EndpointSelection.NeedsHealthCheck(lb with { HealthCheckNodePort = 31000, ExternalTrafficPolicy = TrafficPolicy.Cluster }), Is.False);
            Assert.That(EndpointSelection.NeedsHealthCheck(lb with { HealthCheckNodePort = 31000, Type = ServiceType.NodePort }), Is.False,
                "kube-proxy serves health checks for LoadBalancer Services only");
        });
    }

    [Test]
    public void The_local_ready_count_is_per_IP_over_all_ports_and_slices()
    {
        var service = new Service("default", "web", Labels.Empty, ServiceType.LoadBalancer, EquatableList.From(IPAddress.Parse("10.96.0.10")),
            EquatableList.From(
                new ServicePort("http", Protocol.Tcp, 80, TargetPort.FromNumber(8080), 30080),
                new ServicePort("https", Protocol.Tcp, 443, TargetPort.FromName("https"), 30443)),
            ExternalTrafficPolicy: TrafficPolicy.Local, HealthCheckNodePort: 31000);
        SliceEndpoint Endpoint(string ip, string node, bool ready = true, bool terminating = false) =>
            new(EquatableList.From(IPAddress.Parse(ip)), new EndpointConditions(ready, ready || terminating, terminating), node);
        var first = new EndpointSlice("default", "web-1", "web", AddressType.IPv4,
            EquatableList.From(Endpoint("10.1.0.1", ThisNode), Endpoint("10.1.0.2", ThisNode, ready: false, terminating: true), Endpoint("10.1.0.3", "node-b")),
            EquatableList.From(new EndpointPort("http", Protocol.Tcp, 8080), new EndpointPort("https", Protocol.Tcp, 8443)));
        var second = first with
        {
            Name = "web-2",
            Endpoints = EquatableList.From(Endpoint("10.1.0.1", ThisNode), Endpoint("10.1.0.4", ThisNode)),
        };
        var v6 = first with { Name = "web-3", AddressType = AddressType.IPv6, Endpoints = EquatableList.From(Endpoint("fd00::1", ThisNode)) };

        Assert.Multiple(() =>
        {
            Assert.That(EndpointSelection.LocalReadyEndpointCount(service, [first, second, v6], ThisNode), Is.EqualTo(2),
                "10.1.0.1 (in both slices) and 10.1.0.4; not the terminating 10.1.0.2 nor node-b's");
            Assert.That(EndpointSelection.LocalReadyEndpointCount(service, [first], "node-b"), Is.EqualTo(1));
            Assert.That(EndpointSelection.LocalReadyEndpointCount(service, [], ThisNode), Is.EqualTo(0));
        });
    }

    [Test]
    public void A_candidate_reads_the_conditions_as_Kubernetes_does()
    {
        var endpoint = new SliceEndpoint(EquatableList.From(IPAddress.Parse("10.1.0.1"), IPAddress.Parse("10.1.0.9")), new EndpointConditions(),
            "node-b", "zone-b", new EndpointHints(EquatableList.From<string>("zone-b"), EquatableList<string>.Empty));

        var candidate = EndpointCandidate.From(endpoint, 8080);

        Assert.That(candidate, Is.EqualTo(new EndpointCandidate(IPAddress.Parse("10.1.0.1"), 8080, true, true, false, "node-b", "zone-b", endpoint.Hints)));
        Assert.That(candidate.ToString(), Is.EqualTo("10.1.0.1:8080"));
    }

    private static (Service, ServicePort) Build(Shape shape)
    {
        var port = new ServicePort("", Protocol.Tcp, 80, TargetPort.FromNumber(80), shape.NodePort);
        var service = new Service("default", "web", Labels.Empty, shape.Type, EquatableList.From(IPAddress.Parse("10.96.0.10")), EquatableList.From(port),
            InternalTrafficPolicy: shape.Internal, ExternalTrafficPolicy: shape.External,
            ExternalIPs: (shape.ExternalIPs ?? []).Select(IPAddress.Parse).ToEquatableList(),
            LoadBalancerIngress: (shape.Ingress ?? []).ToEquatableList());
        return (service, port);
    }

    private static string[]? Octets(EndpointSet? set) =>
        set?.Endpoints.Select(endpoint => endpoint.Address.GetAddressBytes()[3].ToString()).ToArray();
}
