using System.Net;
using System.Text.Json;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Cli.Explain;

namespace ProxyReplacement.ServiceProxy.Tests.Cli.Explain;

/// <summary>
/// <c>explain --from external</c> names the external service mode a new flow would use if its backend is on another node:
/// the frontend's own (the Service's annotation, a PR_FE_F_MODE_* flag) or pr_config's. Written from pr_map_abi.h.
/// </summary>
public sealed class ExternalModeExplainTests
{
    private static readonly NatFrontendKey4 Annotated = FakeDataplane.Key("192.168.1.10", 30090);
    private static readonly NatFrontendKey4 Plain = FakeDataplane.Key("192.168.1.10", 30091, L4Protocol.Udp);
    private static readonly NatFrontendKey4 Local = FakeDataplane.Key("192.168.1.10", 30092);
    private static readonly MultiNodeConfig Node = new(ExternalServiceMode.Snat, IPAddress.Parse("192.168.1.10"), 6082, 1438, 0x5052, 20000, 29999);

    private FakeDataplane _dataplane = null!;

    [SetUp]
    public void SetUp()
    {
        _dataplane = new FakeDataplane { Config = DataplaneConfig.Default.WithSocketLbMode(SocketLbMode.Tcp).WithMultiNode(Node) };
        _dataplane.Service(Annotated, 20, ["10.0.1.1:8080", "10.0.1.2:8080"], flags: FrontendFlags.ModeDsr, kind: FrontendKind.NodePort);
        _dataplane.Names.Update(20, new ServiceName("shop", "web", "http", L4Protocol.Tcp));
        _dataplane.Service(Plain, 21, ["10.0.2.1:53"], kind: FrontendKind.NodePort);
        _dataplane.Service(Local, 22, ["10.0.1.1:8080"], flags: FrontendFlags.ExternalLocal | FrontendFlags.ModeTunnel, kind: FrontendKind.NodePort,
            local: ["10.0.1.1:8080"]);
    }

    [Test]
    public void Golden_text_a_dsr_annotation_on_a_node_port()
    {
        Assert.That(_dataplane.Text("external", "203.0.113.9", "192.168.1.10:30090/tcp"), Is.EqualTo("""
            external 203.0.113.9 -> 192.168.1.10:30090/tcp
            program: pr_tc_from_host (TC ingress on the host's data interfaces)
             1. packet: IPv4 TCP 203.0.113.9 -> 192.168.1.10:30090/tcp, arriving on a host interface (a SYN: a TCP packet that is not one and has no conntrack entry passes untouched, pass_not_new)
             2. conntrack: no tracked flow from 203.0.113.9 to 192.168.1.10:30090/tcp (any source port): the packet starts a new flow
             3. frontend: 192.168.1.10:30090/tcp (NodePort of shop/web:http/tcp) -> service id 20, 2 backends, 0 node-local, no session affinity, external mode dsr (annotation)
             4. backends: 2 of 2 in the cluster set eligible
                  #0 10.0.1.1:8080: eligible, in the cluster set
                  #1 10.0.1.2:8080: eligible, in the cluster set
             5. choice: random: bpf_get_prandom_u32() % 2, each ordinal 1/2: 10.0.1.1:8080, 10.0.1.2:8080
             6. external mode: dsr (the Service's annotation proxy-replacement.io/external-service-mode); a backend on another node (pr_routes4): DNAT, then encapsulated to the backend's node (Geneve UDP 6082, VNI 0x5052, with an option naming 192.168.1.10:30090/tcp; tunnel_encap): the backend sees the client, and its node answers the client directly from 192.168.1.10:30090/tcp (dsr_reply there), the replies never pass here; the MSS of the SYN and of the backend's SYN-ACK is clamped to 1398 (tunnel MTU 1438 - 40, tcp_mss_clamped), a bigger packet gets ICMP fragmentation-needed (drop_too_big); a backend on this node: DNAT here
            result: translate: DNAT to one of the backends above, chosen at random; a conntrack pair is created (counter nat_new_flow)
            """));
    }

    [Test]
    public void Without_an_annotation_the_nodes_mode_applies()
    {
        var explanation = _dataplane.Explain("external", "203.0.113.9", "192.168.1.10:30091/udp");

        Assert.Multiple(() =>
        {
            Assert.That(explanation.ExternalMode, Is.EqualTo(new ExternalModeInfo("snat", "default")));
            Assert.That(explanation.Steps.Last().Text, Is.EqualTo(
                "snat (the node's --external-service-mode (pr_config), the Service has no annotation); a backend on another node (pr_routes4): " +
                "its source also becomes 192.168.1.10 with a port of 20000-29999 (nat_snat) and it is routed there: the backend sees this node, not the client; " +
                "the replies come back here and get the client's address back; a backend on this node: DNAT here"));
        });
    }

    [TestCase(ExternalServiceMode.Tunnel, "tunnel", "Geneve UDP 6082, VNI 0x5052; tunnel_encap")]
    [TestCase(ExternalServiceMode.Dsr, "dsr", "dsr_reply there")]
    public void The_nodes_mode_says_what_it_does(ExternalServiceMode mode, string name, string part)
    {
        _dataplane.Config = _dataplane.Config!.Value.WithMultiNode(Node with { Mode = mode });

        var explanation = _dataplane.Explain("external", "203.0.113.9", "192.168.1.10:30091/udp");

        Assert.Multiple(() =>
        {
            Assert.That(explanation.ExternalMode, Is.EqualTo(new ExternalModeInfo(name, "default")));
            Assert.That(explanation.Steps.Last().Text, Does.Contain(part).And.Contain("a packet over the tunnel MTU 1438 gets ICMP fragmentation-needed"));
        });
    }

    [Test]
    public void Without_a_node_address_remote_backends_are_routed_as_on_one_node()
    {
        _dataplane.Config = _dataplane.Config!.Value.WithMultiNode(Node with { NodeAddress = null });

        var step = _dataplane.Explain("external", "203.0.113.9", "192.168.1.10:30091/udp").Steps.Last().Text;

        Assert.That(step, Is.EqualTo("snat (the node's --external-service-mode (pr_config), the Service has no annotation), but pr_config holds no node " +
                                     "address: this node sends no external traffic to other nodes, a backend there is reached as on one node " +
                                     "(DNAT here, routed by the kernel)"));
    }

    [Test]
    public void An_unwritten_config_means_tunnel()
    {
        _dataplane.Config = null;

        Assert.That(_dataplane.Explain("external", "203.0.113.9", "192.168.1.10:30091/udp").ExternalMode, Is.EqualTo(new ExternalModeInfo("tunnel", "unwritten")));
    }

    [TestCase("external", "203.0.113.9", "192.168.1.10:30092/tcp")] // externalTrafficPolicy Local: this node's backends only
    [TestCase("pod", "10.0.0.5", "192.168.1.10:30090/tcp")]           // not external
    [TestCase("host", "0.0.0.0", "192.168.1.10:30090/tcp")]
    public void No_mode_step_where_no_backend_can_be_on_another_node_for_external_traffic(string from, string source, string destination)
    {
        var explanation = _dataplane.Explain(from, source, destination);

        Assert.Multiple(() =>
        {
            Assert.That(explanation.Verdict, Is.EqualTo(ExplainVerdict.Translate));
            Assert.That(explanation.ExternalMode, Is.Null);
            Assert.That(explanation.Steps.Select(step => step.Name), Has.None.EqualTo("external mode"));
        });
    }

    [Test]
    public void Json_carries_the_mode_and_where_it_comes_from()
    {
        using var document = JsonDocument.Parse(ExplanationRenderer.Json(_dataplane.Explain("external", "203.0.113.9", "192.168.1.10:30090/tcp")));
        var mode = document.RootElement.GetProperty("externalMode");

        Assert.That((mode.GetProperty("mode").GetString(), mode.GetProperty("source").GetString()), Is.EqualTo(("dsr", "annotation")));
    }

    [Test]
    public void A_tracked_flow_says_its_mode()
    {
        var client = IPAddress.Parse("203.0.113.9");
        _dataplane.Conntrack.Update(new ConntrackKey4(client, 40000, Annotated.Vip, Annotated.Port, L4Protocol.Tcp),
            new ConntrackValue4(FakeDataplane.Now, FakeDataplane.Now, ConntrackType.Forward, ConntrackTcpState.Established, 0,
                (byte)(ConntrackFlags.LocalVip | ConntrackFlags.Dsr), 20, IPAddress.Parse("10.0.1.2"), 8080, null, 0, IPAddress.Parse("192.168.1.20")));
        _dataplane.Conntrack.Update(new ConntrackKey4(client, 40001, Annotated.Vip, Annotated.Port, L4Protocol.Tcp),
            new ConntrackValue4(FakeDataplane.Now, FakeDataplane.Now, ConntrackType.Forward, ConntrackTcpState.Established, 0,
                (byte)(ConntrackFlags.LocalVip | ConntrackFlags.Snat), 20, IPAddress.Parse("10.0.1.2"), 8080, IPAddress.Parse("192.168.1.10"), 20001, null));

        var text = _dataplane.Text("external", "203.0.113.9", "192.168.1.10:30090/tcp");

        Assert.That(text, Does.Contain(
            "source port 40000: tracked flow to 10.0.1.2:8080 (service id 20, idle 0.0 s, established, encapsulated to node 192.168.1.20 " +
            "(dsr mode: the replies do not come back here)): its packets are DNATed there (nat_established)").And.Contain(
            "source port 40001: tracked flow to 10.0.1.2:8080 (service id 20, idle 0.0 s, established, SNATed to 192.168.1.10:20001 (snat mode)): " +
            "its packets are DNATed there (nat_established)"));
    }
}
