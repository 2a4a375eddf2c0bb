using System.Net;
using System.Text.Json;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Cli.Explain;

namespace ProxyReplacement.ServiceProxy.Tests.Cli.Explain;

/// <summary>
/// explain's route step: for a packet from outside the node, where each possible backend lives by pr_routes4 (the
/// routing module's map) and which node a remote one goes to. Written by hand from pr_map_abi.h (pr_routes4, the
/// external service modes).
/// </summary>
public sealed class RouteExplainTests
{
    private static readonly NatFrontendKey4 NodePort = FakeDataplane.Key("192.168.1.10", 30090);
    private static readonly NatFrontendKey4 Remote = FakeDataplane.Key("192.168.1.10", 30091);
    private static readonly NatFrontendKey4 ClusterIp = FakeDataplane.Key("10.96.0.90", 80);

    private FakeDataplane _dataplane = null!;

    [SetUp]
    public void SetUp()
    {
        _dataplane = new FakeDataplane
        {
            Config = DataplaneConfig.Default.WithSocketLbMode(SocketLbMode.Tcp).WithMultiNode(MultiNodeConfig.Default with { Mode = ExternalServiceMode.Dsr, NodeAddress = IPAddress.Parse("192.168.1.10") }),
        };
        // a pod on this node, a pod on node b, a hostNetwork pod on node c
        _dataplane.Service(NodePort, 20, ["10.244.1.5:8080", "10.244.2.5:8080", "192.168.1.12:8080"], kind: FrontendKind.NodePort);
        _dataplane.Service(Remote, 21, ["10.244.2.6:8080"], kind: FrontendKind.NodePort, flags: FrontendFlags.ModeSnat);
        _dataplane.Service(ClusterIp, 22, ["10.244.2.5:8080"]);
        _dataplane.Route("10.244.1.0/24", RouteFlags.Local, "192.168.1.10");
        _dataplane.Route("10.244.2.0/24", RouteFlags.Remote, "192.168.1.11");
        _dataplane.Route("192.168.1.10/32", RouteFlags.Local | RouteFlags.Node, "192.168.1.10");
        _dataplane.Route("192.168.1.11/32", RouteFlags.Remote | RouteFlags.Node, "192.168.1.11");
        _dataplane.Route("192.168.1.12/32", RouteFlags.Remote | RouteFlags.Node, "192.168.1.12");
    }

    [Test]
    public void Each_possible_backend_of_an_external_packet_is_placed_by_the_longest_prefix()
    {
        var text = _dataplane.Text("external", "203.0.113.9", "192.168.1.10:30090/tcp");

        Assert.That(text, Does.Contain("""
             6. route: pr_routes4:
                  10.244.1.5: on this node (10.244.1.0/24 local)
                  10.244.2.5: on the node at 192.168.1.11 (10.244.2.0/24 remote)
                  192.168.1.12: on the node at 192.168.1.12 (192.168.1.12/32 remote)
             7. external mode: dsr (the node's --external-service-mode (pr_config), the Service has no annotation); a remote backend above: DNAT, then encapsulated
            """.TrimEnd()));
        Assert.That(text, Does.Contain("; a backend on this node: DNAT here\nresult: translate:"), "10.244.1.5 is local");
    }

    [Test]
    public void Golden_text_one_remote_backend_with_the_services_own_mode()
    {
        Assert.That(_dataplane.Text("external", "203.0.113.9", "192.168.1.10:30091/tcp"), Is.EqualTo("""
            external 203.0.113.9 -> 192.168.1.10:30091/tcp
            program: pr_tc_from_host (TC ingress on the host's data interfaces)
             1. packet: IPv4 TCP 203.0.113.9 -> 192.168.1.10:30091/tcp, arriving on a host interface (a SYN: a TCP packet that is not one and has no conntrack entry passes untouched, pass_not_new)
             2. conntrack: no tracked flow from 203.0.113.9 to 192.168.1.10:30091/tcp (any source port): the packet starts a new flow
             3. frontend: 192.168.1.10:30091/tcp (NodePort) -> service id 21, 1 backend, 0 node-local, no session affinity, external mode snat (annotation)
             4. backends: 1 of 1 in the cluster set eligible
                  #0 10.244.2.6:8080: eligible, in the cluster set
             5. choice: the only backend: 10.244.2.6:8080
             6. route: pr_routes4: 10.244.2.6: on the node at 192.168.1.11 (10.244.2.0/24 remote)
             7. external mode: snat (the Service's annotation proxy-replacement.io/external-service-mode); a remote backend above: its source also becomes 192.168.1.10 with a port of 20000-29999 (nat_snat) and it is routed there: the backend sees this node, not the client; the replies come back here and get the client's address back
            result: translate: DNAT to 10.244.2.6:8080; a conntrack pair is created, so the flow's later packets follow it (counter nat_new_flow)
            """));
    }

    [Test]
    public void Without_a_node_address_in_pr_config_remote_backends_are_routed_by_the_kernel()
    {
        _dataplane.Config = DataplaneConfig.Default;

        Assert.That(_dataplane.Text("external", "203.0.113.9", "192.168.1.10:30091/tcp"), Does.Contain(
            "7. external mode: snat (the Service's annotation proxy-replacement.io/external-service-mode), but pr_config holds no node address: " +
            "this node sends no external traffic to other nodes, a backend there is reached as on one node (DNAT here, routed by the kernel)"));
    }

    [Test]
    public void An_address_without_an_entry_is_local()
    {
        _dataplane.Service(FakeDataplane.Key("192.168.1.10", 30092), 23, ["10.77.0.1:80"], kind: FrontendKind.NodePort);

        var explanation = _dataplane.Explain("external", "203.0.113.9", "192.168.1.10:30092/tcp");

        Assert.That(explanation.Steps.Single(step => step.Name == "route").Text, Is.EqualTo("pr_routes4: 10.77.0.1: no entry, on this node (the kernel routes it)"));
        Assert.That(explanation.Routes, Is.EqualTo(new[] { new BackendRoute("10.77.0.1", null, "local", null) }));
        Assert.That((explanation.ExternalMode, explanation.Steps.Any(step => step.Name == "external mode")), Is.EqualTo(((ExternalModeInfo?)null, false)),
            "every possible backend is on this node: no mode applies");
    }

    [TestCase("pod", "10.244.1.9", "10.96.0.90:80/tcp")]   // a pod's packet: the kernel (the CNI) routes it
    [TestCase("host", "0.0.0.0", "10.96.0.90:80/tcp")]     // a host socket: connect-time, no packet is steered
    public void Only_external_traffic_gets_a_route_step(string from, string source, string destination)
    {
        var explanation = _dataplane.Explain(from, source, destination);

        Assert.That(explanation.Verdict, Is.EqualTo(ExplainVerdict.Translate));
        Assert.That(explanation.Steps.Select(step => step.Name), Has.None.EqualTo("route"));
        Assert.That(explanation.Routes, Is.Empty);
    }

    [Test]
    public void An_empty_route_map_says_nothing()
    {
        foreach (var (key, _) in _dataplane.Routes.ReadAll())
            _dataplane.Routes.Delete(key);

        Assert.That(_dataplane.Explain("external", "203.0.113.9", "192.168.1.10:30091/tcp").Steps.Select(step => step.Name), Has.None.EqualTo("route"));
    }

    [Test]
    public void Json_carries_the_routes()
    {
        using var json = JsonDocument.Parse(ExplanationRenderer.Json(_dataplane.Explain("external", "203.0.113.9", "192.168.1.10:30091/tcp")));

        var route = json.RootElement.GetProperty("routes").EnumerateArray().Single();
        Assert.Multiple(() =>
        {
            Assert.That(route.GetProperty("backend").GetString(), Is.EqualTo("10.244.2.6"));
            Assert.That(route.GetProperty("prefix").GetString(), Is.EqualTo("10.244.2.0/24"));
            Assert.That(route.GetProperty("owner").GetString(), Is.EqualTo("remote"));
            Assert.That(route.GetProperty("nodeAddress").GetString(), Is.EqualTo("192.168.1.11"));
        });
    }
}
