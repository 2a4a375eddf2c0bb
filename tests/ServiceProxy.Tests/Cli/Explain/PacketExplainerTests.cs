using System.Text.Json;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Cli.Explain;

namespace ProxyReplacement.ServiceProxy.Tests.Cli.Explain;

/// <summary>
/// Golden cases of <c>explain</c> on fake maps: one dataplane state (below) and, per question, what the BPF programs
/// decide (the verdict, the counter they increment, the backends the choice may land on) and, for some, the whole
/// text. Written by hand from tc_nat.bpf.c, pr_lb.h, pr_nat.h, pr_conntrack.h and pr_sock.h: when the code and a case
/// disagree, decide which one is wrong.
/// </summary>
public sealed class PacketExplainerTests
{
    private static readonly NatFrontendKey4 Web = FakeDataplane.Key("10.96.0.10", 80);
    private static readonly NatFrontendKey4 Dns = FakeDataplane.Key("10.96.0.53", 53, L4Protocol.Udp);
    private static readonly NatFrontendKey4 Sticky = FakeDataplane.Key("10.96.0.20", 443);
    private static readonly NatFrontendKey4 Empty = FakeDataplane.Key("10.96.0.30", 80);
    private static readonly NatFrontendKey4 Holey = FakeDataplane.Key("10.96.0.40", 80);

    private FakeDataplane _dataplane = null!;

    [SetUp]
    public void SetUp()
    {
        _dataplane = new FakeDataplane();
        _dataplane.Service(Web, 1, ["10.0.1.1:8080", "10.0.1.2:8080"]);
        _dataplane.Service(Dns, 2, ["10.0.2.1:53"]);
        _dataplane.Service(Sticky, 3, ["10.0.3.1:8443", "10.0.3.2:8443"], flags: FrontendFlags.Affinity, affinityTimeout: 600);
        _dataplane.Service(Empty, 4, []);
        // count 3: ordinal 1 is missing (a write failed), ordinal 3 is not counted yet
        _dataplane.Service(Holey, 5, ["10.0.5.1:80", "", "10.0.5.3:80", "10.0.5.4:80"], count: 3);
        _dataplane.AffinityEntry(Sticky, "10.0.0.5", 1, "10.0.3.2:8443", secondsAgo: 30);      // valid
        _dataplane.AffinityEntry(Sticky, "10.0.0.6", 1, "10.0.3.9:8443", secondsAgo: 30);      // the backend at #1 changed
        _dataplane.AffinityEntry(Sticky, "10.0.0.7", 0, "10.0.3.1:8443", secondsAgo: 900);     // older than 600 s
        _dataplane.AffinityEntry(Sticky, "0.0.0.0", 0, "10.0.3.1:8443", secondsAgo: 5);        // the host's
        _dataplane.Flow("10.0.0.8", 40000, Web, "10.0.1.2:8080", 1, idleSeconds: 3);
        _dataplane.Flow("10.0.0.8", 40001, Web, "10.0.1.1:8080", 1, idleSeconds: 30000);      // > 21600 s established
    }

    [TestCase("pod", "10.0.0.5", "10.96.0.10:80/tcp", ExplainVerdict.Translate, CounterReason.NatNewFlow, "10.0.1.1:8080 10.0.1.2:8080")]
    [TestCase("pod", "10.0.0.5", "10.96.0.53:53/udp", ExplainVerdict.Translate, CounterReason.NatNewFlow, "10.0.2.1:53")]
    [TestCase("pod", "10.0.0.5", "10.96.0.53:53", ExplainVerdict.Reject, CounterReason.RejectUnknownService, "")] // tcp: no frontend
    [TestCase("pod", "10.0.0.5", "10.96.0.30:80/tcp", ExplainVerdict.Reject, CounterReason.RejectTcpNoBackend, "")]
    [TestCase("pod", "10.0.0.5", "10.96.0.30:80/udp", ExplainVerdict.Reject, CounterReason.RejectUnknownService, "")]
    [TestCase("pod", "10.0.0.5", "10.96.0.10:81/tcp", ExplainVerdict.Reject, CounterReason.RejectUnknownService, "")]
    [TestCase("pod", "10.0.0.5", "192.168.1.1:80/tcp", ExplainVerdict.Pass, CounterReason.PassNoService, "")]
    [TestCase("pod", "10.0.0.5", "10.96.0.20:443/tcp", ExplainVerdict.Translate, CounterReason.NatNewFlow, "10.0.3.2:8443")]
    [TestCase("pod", "10.0.0.6", "10.96.0.20:443/tcp", ExplainVerdict.Translate, CounterReason.NatNewFlow, "10.0.3.1:8443 10.0.3.2:8443")]
    [TestCase("pod", "10.0.0.7", "10.96.0.20:443/tcp", ExplainVerdict.Translate, CounterReason.NatNewFlow, "10.0.3.1:8443 10.0.3.2:8443")]
    [TestCase("pod", "10.0.0.9", "10.96.0.20:443/tcp", ExplainVerdict.Translate, CounterReason.NatNewFlow, "10.0.3.1:8443 10.0.3.2:8443")]
    [TestCase("pod", "0.0.0.0", "10.96.0.20:443/tcp", ExplainVerdict.Drop, CounterReason.DropAffinityNoClient, "")]
    [TestCase("pod", "0.0.0.0", "10.96.0.10:80/tcp", ExplainVerdict.Translate, CounterReason.NatNewFlow, "10.0.1.1:8080 10.0.1.2:8080")]
    [TestCase("pod", "10.0.0.5", "10.96.0.40:80/tcp", ExplainVerdict.Translate, CounterReason.NatNewFlow, "10.0.5.1:80 10.0.5.3:80")]
    [TestCase("host", "0.0.0.0", "10.96.0.10:80/tcp", ExplainVerdict.Translate, CounterReason.SockConnect, "10.0.1.1:8080 10.0.1.2:8080")]
    [TestCase("host", "0.0.0.0", "10.96.0.53:53/udp", ExplainVerdict.Pass, null, "")] // mode tcp: UDP left alone
    [TestCase("host", "0.0.0.0", "10.96.0.20:443/tcp", ExplainVerdict.Translate, CounterReason.SockConnect, "10.0.3.1:8443")] // the host's entry
    [TestCase("host", "0.0.0.0", "10.96.0.30:80/tcp", ExplainVerdict.Refuse, CounterReason.SockRefuseNoBackend, "")]
    [TestCase("host", "0.0.0.0", "10.96.9.9:80/tcp", ExplainVerdict.Refuse, CounterReason.SockRefuseUnknownService, "")]
    [TestCase("host", "0.0.0.0", "192.168.1.1:80/tcp", ExplainVerdict.Pass, CounterReason.SockPassNoService, "")]
    [TestCase("external", "203.0.113.9", "10.96.0.10:80/tcp", ExplainVerdict.Translate, CounterReason.NatNewFlow, "10.0.1.1:8080 10.0.1.2:8080")] // a ClusterIP routed to the node
    public void Verdict_counter_and_choices(string from, string source, string destination, ExplainVerdict verdict, CounterReason? counter, string choices)
    {
        var explanation = _dataplane.Explain(from, source, destination);

        Assert.Multiple(() =>
        {
            Assert.That(explanation.Verdict, Is.EqualTo(verdict), explanation.Outcome);
            Assert.That(explanation.Counter, Is.EqualTo(counter));
            Assert.That(string.Join(' ', explanation.Choices.Select(choice => choice.ToString())), Is.EqualTo(choices));
        });
    }

    [Test]
    public void Udp_in_mode_enabled_is_translated_at_the_socket()
    {
        _dataplane.Config = DataplaneConfig.Default.WithSocketLbMode(SocketLbMode.Enabled);

        var explanation = _dataplane.Explain("host", "0.0.0.0", "10.96.0.53:53/udp");

        Assert.That((explanation.Verdict, explanation.Counter), Is.EqualTo((ExplainVerdict.Translate, (CounterReason?)CounterReason.SockConnect)));
    }

    [Test]
    public void Without_the_host_netns_cookie_an_unbound_host_socket_to_an_affinity_frontend_is_left_to_tc()
    {
        _dataplane.HostNetnsCookie = 0;

        var unbound = _dataplane.Explain("host", "0.0.0.0", "10.96.0.20:443/tcp");
        var bound = _dataplane.Explain("host", "10.0.0.5", "10.96.0.20:443/tcp");

        Assert.Multiple(() =>
        {
            Assert.That((unbound.Verdict, unbound.Counter), Is.EqualTo((ExplainVerdict.Pass, (CounterReason?)CounterReason.SockPassAffinity)));
            Assert.That(bound.Choices.Single().ToString(), Is.EqualTo("10.0.3.2:8443"), "keyed by the bound address: 10.0.0.5's entry");
        });
    }

    [Test]
    public void Every_counted_ordinal_is_a_candidate_and_a_missing_one_is_a_reject()
    {
        var explanation = _dataplane.Explain("pod", "10.0.0.5", "10.96.0.40:80/tcp");

        Assert.That(explanation.Backends.Select(candidate => (candidate.Ordinal, candidate.Eligible, candidate.Backend?.ToString())), Is.EqualTo(new[]
        {
            (0u, true, (string?)"10.0.5.1:80"),
            (1u, false, null),
            (2u, true, "10.0.5.3:80"),
            (3u, false, "10.0.5.4:80"),
        }));
    }

    [Test]
    public void A_frontend_whose_counted_backends_are_all_missing_rejects()
    {
        _dataplane.Service(FakeDataplane.Key("10.96.0.60", 80), 6, ["", ""]);

        var explanation = _dataplane.Explain("pod", "10.0.0.5", "10.96.0.60:80/tcp");

        Assert.That((explanation.Verdict, explanation.Counter), Is.EqualTo((ExplainVerdict.Reject, (CounterReason?)CounterReason.RejectBackendMissing)));
    }

    [Test]
    public void Conntrack_timeouts_come_from_pr_config_with_the_defaults_for_zero()
    {
        var config = new DataplaneConfig(5, 0, 0, 30, 0);

        Assert.Multiple(() =>
        {
            Assert.That(PacketExplainer.TimeoutSeconds(config, L4Protocol.Tcp, ConntrackTcpState.SynSent), Is.EqualTo(5));
            Assert.That(PacketExplainer.TimeoutSeconds(config, L4Protocol.Tcp, ConntrackTcpState.Established), Is.EqualTo(21600));
            Assert.That(PacketExplainer.TimeoutSeconds(config, L4Protocol.Tcp, ConntrackTcpState.Closing), Is.EqualTo(21600), "half closed idles long");
            Assert.That(PacketExplainer.TimeoutSeconds(config, L4Protocol.Tcp, ConntrackTcpState.Closed), Is.EqualTo(10));
            Assert.That(PacketExplainer.TimeoutSeconds(config, L4Protocol.Udp, ConntrackTcpState.None), Is.EqualTo(30));
            Assert.That(PacketExplainer.TimeoutSeconds(null, L4Protocol.Sctp, ConntrackTcpState.None), Is.EqualTo(60));
        });
    }

    [Test]
    public void A_snat_flow_closed_by_fins_shows_the_backends_time_wait_as_its_timeout()
    {
        var config = new DataplaneConfig(5, 0, 0, 30, 0);
        static ConntrackValue4 Closed(ConntrackFlags flags, byte finSeen) =>
            new(1, 1, ConntrackType.Forward, ConntrackTcpState.Closed, finSeen, (byte)flags, 7, System.Net.IPAddress.Parse("10.244.2.7"), 8080);

        Assert.Multiple(() =>
        {
            Assert.That(PacketExplainer.TimeoutSeconds(config, L4Protocol.Tcp, Closed(ConntrackFlags.Snat | ConntrackFlags.LocalVip, 3)), Is.EqualTo(70));
            Assert.That(PacketExplainer.TimeoutSeconds(config, L4Protocol.Tcp, Closed(ConntrackFlags.Snat, 1)), Is.EqualTo(10), "ended by RST");
            Assert.That(PacketExplainer.TimeoutSeconds(config, L4Protocol.Tcp, Closed(ConntrackFlags.LocalVip, 3)), Is.EqualTo(10), "not SNATed");
        });
    }

    [Test]
    public void Golden_text_random_choice_from_a_pod()
    {
        Assert.That(_dataplane.Text("pod", "10.0.0.5", "10.96.0.10:80/tcp"), Is.EqualTo("""
            pod 10.0.0.5 -> 10.96.0.10:80/tcp
            program: pr_tc_from_wl (TC ingress on the pod's host-side veth)
             1. packet: IPv4 TCP 10.0.0.5 -> 10.96.0.10:80/tcp
             2. conntrack: no tracked flow from 10.0.0.5 to 10.96.0.10:80/tcp (any source port): the packet starts a new flow
             3. frontend: 10.96.0.10:80/tcp (ClusterIP) -> service id 1, 2 backends, 0 node-local, no session affinity
             4. backends: 2 of 2 in the cluster set eligible
                  #0 10.0.1.1:8080: eligible, in the cluster set
                  #1 10.0.1.2:8080: eligible, in the cluster set
             5. choice: random: bpf_get_prandom_u32() % 2, each ordinal 1/2: 10.0.1.1:8080, 10.0.1.2:8080
            result: translate: DNAT to one of the backends above, chosen at random; a conntrack pair is created (counter nat_new_flow)
            """));
    }

    [Test]
    public void Golden_text_tracked_flows_then_a_new_one()
    {
        Assert.That(_dataplane.Text("pod", "10.0.0.8", "10.96.0.10:80/tcp"), Does.Contain("""
             2. conntrack: source port 40000: tracked flow to 10.0.1.2:8080 (service id 1, idle 3.0 s, established): its packets are DNATed there (nat_established)
             3. conntrack: source port 40001: forward entry expired (idle 30000.0 s, established): treated as absent, its next packet is balanced anew (ct_expired)
             4. conntrack: a packet from any other source port starts a new flow:
            """));
    }

    [Test]
    public void Golden_text_affinity_entries()
    {
        Assert.Multiple(() =>
        {
            Assert.That(_dataplane.Text("pod", "10.0.0.5", "10.96.0.20:443/tcp"), Does.Contain("""
                 5. affinity: the affinity entry of client 10.0.0.5 holds: 10.0.3.2:8443 (#1), idle 30 s of 600 s
                result: translate: DNAT to 10.0.3.2:8443; a conntrack pair is created, so the flow's later packets follow it (chosen by the affinity entry: affinity_hit) (counter nat_new_flow)
                """));
            Assert.That(_dataplane.Text("pod", "10.0.0.6", "10.96.0.20:443/tcp"), Does.Contain(
                "5. affinity: the affinity entry of client 10.0.0.6 remembers 10.0.3.9:8443 (#1), but #1 now holds 10.0.3.2:8443: the backend set moved, chosen anew"));
            Assert.That(_dataplane.Text("pod", "10.0.0.7", "10.96.0.20:443/tcp"), Does.Contain(
                "5. affinity: the affinity entry of client 10.0.0.7 (10.0.3.1:8443 (#0)) expired: idle 900 s > 600 s; a new backend is chosen at random"));
            Assert.That(_dataplane.Text("pod", "10.0.0.9", "10.96.0.20:443/tcp"), Does.Contain(
                "no affinity entry for client 10.0.0.9: the backend is chosen at random and remembered for it"));
        });
    }

    [Test]
    public void Golden_text_missing_ordinal()
    {
        Assert.That(_dataplane.Text("pod", "10.0.0.5", "10.96.0.40:80/tcp"), Does.Contain("""
             4. backends: 2 of 3 in the cluster set eligible
                  #0 10.0.5.1:80: eligible, in the cluster set
                  #1 (none): not eligible, counted, but no backend entry: a choice of it is rejected
                  #2 10.0.5.3:80: eligible, in the cluster set
                  #3 10.0.5.4:80: not eligible, not counted (the cluster set counts 3): being added or removed
             5. choice: random: bpf_get_prandom_u32() % 3, each ordinal 1/3: 10.0.5.1:80, 10.0.5.3:80; 1/3 of the time the ordinal has no entry and the packet is rejected
            """));
    }

    [Test]
    public void Golden_text_host_socket_with_the_hosts_affinity_entry()
    {
        Assert.That(_dataplane.Text("host", "0.0.0.0", "10.96.0.20:443/tcp"), Is.EqualTo("""
            host 0.0.0.0 -> 10.96.0.20:443/tcp
            program: cgroup connect4 / sendmsg4 (connect-time balancing, sockets in the --cgroup-path cgroup)
             1. socket: connect() of a host-network TCP socket (unbound) to 10.96.0.20:443/tcp
             2. mode: socket LB mode tcp translates TCP
             3. frontend: 10.96.0.20:443/tcp (ClusterIP) -> service id 3, 2 backends, 0 node-local, ClientIP affinity for 600 s
             4. client: the socket is in the host network namespace (pr_host_netns cookie 4096): its affinity client is the node, 0.0.0.0
             5. backends: 2 of 2 in the cluster set eligible
                  #0 10.0.3.1:8443: eligible, in the cluster set
                  #1 10.0.3.2:8443: eligible, in the cluster set
             6. affinity: the affinity entry of the host holds: 10.0.3.1:8443 (#0), idle 5 s of 600 s
            result: translate: connect() goes straight to 10.0.3.1:8443: no conntrack entry, no per-packet NAT; replies and getpeername() show 10.96.0.20:443 (kept in the socket's storage, pr_sk_store4) (chosen by the affinity entry: sock_affinity_hit) (counter sock_connect)
            """));
    }

    [Test]
    public void Golden_text_rejects()
    {
        Assert.Multiple(() =>
        {
            Assert.That(_dataplane.Text("pod", "10.0.0.5", "10.96.0.30:80/udp"), Does.EndWith(
                "result: reject: rejected with an ICMP port unreachable instead of being routed on to hang (counter reject_unknown_service)"));
            Assert.That(_dataplane.Text("pod", "10.0.0.5", "10.96.0.30:80/tcp"), Does.EndWith(
                "result: reject: rejected with a TCP RST: the Service has no ready backends (counter reject_tcp_no_backend)"));
            Assert.That(_dataplane.Text("pod", "0.0.0.0", "10.96.0.20:443/tcp"), Does.EndWith(
                "result: drop: dropped: no client address to decide by (counter drop_affinity_no_client)"));
        });
    }

    [Test]
    public void Json_carries_the_same_explanation()
    {
        var json = ExplanationRenderer.Json(_dataplane.Explain("pod", "10.0.0.5", "10.96.0.40:80/tcp"));
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;

        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("from").GetString(), Is.EqualTo("pod"));
            Assert.That(root.GetProperty("destination").GetString(), Is.EqualTo("10.96.0.40:80/tcp"));
            Assert.That(root.GetProperty("verdict").GetString(), Is.EqualTo("translate"));
            Assert.That(root.GetProperty("counter").GetString(), Is.EqualTo("nat_new_flow"));
            Assert.That(root.GetProperty("frontend").GetProperty("serviceId").GetUInt32(), Is.EqualTo(5));
            Assert.That(root.GetProperty("frontend").GetProperty("kind").GetString(), Is.EqualTo("ClusterIP"));
            Assert.That(root.GetProperty("backends").GetArrayLength(), Is.EqualTo(4));
            Assert.That(root.GetProperty("backends")[1].GetProperty("eligible").GetBoolean(), Is.False);
            Assert.That(root.GetProperty("choices").EnumerateArray().Select(choice => choice.GetString()), Is.EqualTo(new[] { "10.0.5.1:80", "10.0.5.3:80" }));
            Assert.That(root.GetProperty("steps").GetArrayLength(), Is.EqualTo(5));
        });
    }

    [Test]
    public void Explaining_writes_nothing()
    {
        var before = (_dataplane.Affinity.ReadAll().Count, _dataplane.Conntrack.ReadAll().Count);

        _dataplane.Explain("pod", "10.0.0.9", "10.96.0.20:443/tcp");
        _dataplane.Explain("host", "0.0.0.0", "10.96.0.10:80/tcp");

        Assert.That((_dataplane.Affinity.ReadAll().Count, _dataplane.Conntrack.ReadAll().Count), Is.EqualTo(before));
    }

    // ---- every entry point (ABI 2): kinds, traffic policies, source ranges, hairpin ----------------------------------

    private static readonly NatFrontendKey4 NodePort = FakeDataplane.Key("192.168.1.10", 30080);
    private static readonly NatFrontendKey4 NodePortNoLocal = FakeDataplane.Key("192.168.1.10", 30081);
    private static readonly NatFrontendKey4 Balancer = FakeDataplane.Key("198.51.100.7", 443);

    private void EntryPoints()
    {
        _dataplane.Service(NodePort, 10, ["10.0.1.1:8080", "10.0.1.2:8080"], flags: FrontendFlags.ExternalLocal, kind: FrontendKind.NodePort,
            local: ["10.0.1.2:8080"]);
        _dataplane.Names.Update(10, new ServiceName("shop", "web", "http", L4Protocol.Tcp));
        _dataplane.Service(NodePortNoLocal, 11, ["10.0.1.1:8080"], flags: FrontendFlags.ExternalLocal, kind: FrontendKind.NodePort);
        _dataplane.Service(Balancer, 12, ["10.0.3.1:8443"], flags: FrontendFlags.SourceRanges, kind: FrontendKind.LoadBalancer);
        _dataplane.SourceRanges.Update(new LbSourceRangeKey4(12, System.Net.IPNetwork.Parse("203.0.113.0/24")), default);
        _dataplane.SourceRanges.Update(new LbSourceRangeKey4(12, System.Net.IPNetwork.Parse("10.0.0.0/24")), default);
    }

    [TestCase("external", "203.0.113.9", "192.168.1.10:30080/tcp", ExplainVerdict.Translate, CounterReason.NatNewFlow, "10.0.1.2:8080")] // local set only
    [TestCase("pod", "10.0.0.5", "192.168.1.10:30080/tcp", ExplainVerdict.Translate, CounterReason.NatNewFlow, "10.0.1.1:8080 10.0.1.2:8080")] // internal: cluster set
    [TestCase("external", "203.0.113.9", "192.168.1.10:30081/tcp", ExplainVerdict.Drop, CounterReason.DropNoLocalBackend, "")]
    [TestCase("external", "203.0.113.9", "198.51.100.7:443/tcp", ExplainVerdict.Translate, CounterReason.NatNewFlow, "10.0.3.1:8443")]
    [TestCase("external", "192.0.2.1", "198.51.100.7:443/tcp", ExplainVerdict.Drop, CounterReason.DropSourceRange, "")]
    [TestCase("pod", "10.0.0.5", "198.51.100.7:443/tcp", ExplainVerdict.Translate, CounterReason.NatNewFlow, "10.0.3.1:8443")]
    [TestCase("pod", "10.0.9.5", "198.51.100.7:443/tcp", ExplainVerdict.Drop, CounterReason.DropSourceRange, "")]
    [TestCase("host", "10.0.0.5", "198.51.100.7:443/tcp", ExplainVerdict.Translate, CounterReason.SockConnect, "10.0.3.1:8443")] // the bound address
    [TestCase("host", "192.0.2.1", "198.51.100.7:443/tcp", ExplainVerdict.Refuse, CounterReason.DropSourceRange, "")]
    [TestCase("host", "0.0.0.0", "198.51.100.7:443/tcp", ExplainVerdict.Pass, CounterReason.SockPassSourceRange, "")] // unbound: left to TC
    public void Entry_points(string from, string source, string destination, ExplainVerdict verdict, CounterReason? counter, string choices)
    {
        EntryPoints();

        Verdict_counter_and_choices(from, source, destination, verdict, counter, choices);
    }

    [Test]
    public void Golden_text_node_port_with_external_traffic_policy_local()
    {
        EntryPoints();

        Assert.That(_dataplane.Text("external", "203.0.113.9", "192.168.1.10:30080/tcp"), Is.EqualTo("""
            external 203.0.113.9 -> 192.168.1.10:30080/tcp
            program: pr_tc_from_host (TC ingress on the host's data interfaces)
             1. packet: IPv4 TCP 203.0.113.9 -> 192.168.1.10:30080/tcp, arriving on a host interface (a SYN: a TCP packet that is not one and has no conntrack entry passes untouched, pass_not_new)
             2. conntrack: no tracked flow from 203.0.113.9 to 192.168.1.10:30080/tcp (any source port): the packet starts a new flow
             3. frontend: 192.168.1.10:30080/tcp (NodePort of shop/web:http/tcp) -> service id 10, 2 backends, 1 node-local, no session affinity, externalTrafficPolicy Local
             4. backends: 1 of 1 in the node-local set (externalTrafficPolicy: Local) eligible
                  #local 0 10.0.1.2:8080: eligible, in the node-local set (externalTrafficPolicy: Local)
                  #0 10.0.1.1:8080: not eligible, in the cluster set, but this origin's traffic policy is Local: only node-local backends
                  #1 10.0.1.2:8080: not eligible, in the cluster set, but this origin's traffic policy is Local: only node-local backends
             5. choice: the only backend: 10.0.1.2:8080
            result: translate: DNAT to 10.0.1.2:8080; a conntrack pair is created, so the flow's later packets follow it (counter nat_new_flow)
            """));
    }

    [Test]
    public void Golden_text_source_ranges_deny()
    {
        EntryPoints();

        Assert.That(_dataplane.Text("external", "192.0.2.1", "198.51.100.7:443/tcp"), Does.EndWith("""
             4. source ranges: 192.0.2.1 is in none of the Service's loadBalancerSourceRanges (pr_lb_src4)
            result: drop: dropped: the client is outside the source ranges (counter drop_source_range)
            """.TrimEnd()));
    }

    [Test]
    public void A_pod_balanced_to_itself_is_a_hairpin()
    {
        var text = _dataplane.Text("pod", "10.0.2.1", "10.96.0.53:53/udp");

        Assert.That(text, Does.Contain("the backend is the client itself: hairpin, the source becomes 169.254.7.1 and the packet goes straight back out of the veth (nat_hairpin)"));
    }

    [TestCase("10.96.0.10:80/tcp", true, "")]
    [TestCase("10.96.0.10:80", true, "")]
    [TestCase("10.96.0.10:80/UDP", true, "")]
    [TestCase("10.96.0.10/tcp", false, "'10.96.0.10/tcp' has no port; expected DST:PORT/PROTO, e.g. 10.96.0.10:80/tcp")]
    [TestCase("10.96.0.10:0/tcp", false, "'0' is not a port (1-65535)")]
    [TestCase("10.96.0.10:80/icmp", false, "'icmp' is not a protocol; accepted: tcp, udp")]
    [TestCase("fd00::1:80/tcp", false, "'fd00::1' is not an IPv4 address")]
    public void Destinations_parse_or_say_what_is_wrong(string text, bool parses, string problem)
    {
        Assert.Multiple(() =>
        {
            Assert.That(ExplainRequest.TryParseDestination(text, out _, out var actual), Is.EqualTo(parses));
            Assert.That(actual, Is.EqualTo(problem));
        });
    }

    // ---- the ClusterIP fast path (pr_lb_direct4: tried before the frontend lookup, by pods' new flows and the socket hooks) ----

    private static ExplainStep? FastPath(Explanation explanation) => explanation.Steps.SingleOrDefault(step => step.Name == "fast path");

    [Test]
    public void A_pod_flow_to_a_ClusterIP_held_in_its_slot_is_said_to_take_the_slot_before_the_frontend_lookup()
    {
        var slot = _dataplane.DirectSlot(Web, 1, ["10.0.1.1:8080", "10.0.1.2:8080"]);

        var explanation = _dataplane.Explain("pod", "10.0.0.5", "10.96.0.10:80/tcp");

        Assert.Multiple(() =>
        {
            Assert.That(slot, Is.EqualTo(10u), "10.96.0.10 & 15");
            Assert.That(FastPath(explanation)?.Text, Is.EqualTo(
                "slot 10 of pr_nat_direct4 holds 10.96.0.10:80/tcp (service id 1) and 2 backends: 10.0.1.1:8080, 10.0.1.2:8080; " +
                "new flows take one of these at random (nat_direct) without the frontend and backend lookups below, which hold the same"));
            Assert.That(explanation.Steps.Select(step => step.Name).ToList(), Is.EqualTo(new[] { "packet", "conntrack", "fast path", "frontend", "backends", "choice" }));
            Assert.That(explanation.Verdict, Is.EqualTo(ExplainVerdict.Translate));
            Assert.That(string.Join(' ', explanation.Choices), Is.EqualTo("10.0.1.1:8080 10.0.1.2:8080"));
        });
    }

    [Test]
    public void A_slot_whose_copy_differs_from_the_hash_entries_is_called_drift_and_named_as_what_new_flows_follow()
    {
        _dataplane.DirectSlot(Web, 1, ["10.0.1.1:8080"]);

        var step = FastPath(_dataplane.Explain("pod", "10.0.0.5", "10.96.0.10:80/tcp"));

        Assert.That(step?.Text, Is.EqualTo(
            "slot 10 of pr_nat_direct4 holds 10.96.0.10:80/tcp (service id 1) and 1 backend: 10.0.1.1:8080; " +
            "but the entries below differ from it (drift): new flows take a backend from the slot, not from them, until a sync or the drift check rewrites it"));
    }

    [Test]
    public void A_slot_of_a_frontend_the_hash_map_lacks_is_still_reported_before_the_reject()
    {
        var gone = FakeDataplane.Key("10.96.1.11", 80);
        _dataplane.DirectSlot(gone, 9, ["10.0.9.1:80"]);

        var explanation = _dataplane.Explain("pod", "10.0.0.5", "10.96.1.11:80/tcp");

        Assert.Multiple(() =>
        {
            Assert.That(FastPath(explanation)?.Text, Does.EndWith(
                "but pr_nat_fe4 has no such frontend (drift): new flows still take a backend from the slot until a sync or the drift check empties it"));
            Assert.That(explanation.Verdict, Is.EqualTo(ExplainVerdict.Reject), "the rest mirrors the hash path");
        });
    }

    [Test]
    public void The_socket_hooks_try_the_slot_too()
    {
        _dataplane.DirectSlot(Web, 1, ["10.0.1.1:8080", "10.0.1.2:8080"]);

        var explanation = _dataplane.Explain("host", "0.0.0.0", "10.96.0.10:80/tcp");

        Assert.That(FastPath(explanation)?.Text, Does.StartWith("slot 10 of pr_nat_direct4 holds 10.96.0.10:80/tcp"));
    }

    [TestCase("external", "203.0.113.9", "10.96.0.10:80/tcp", TestName = "Traffic from outside the node never takes the slot")]
    [TestCase("pod", "10.0.0.5", "10.96.0.10:81/tcp", TestName = "A slot holding another port of the VIP is not this frontend's")]
    [TestCase("pod", "10.0.0.5", "10.96.0.26:80/tcp", TestName = "A slot holding another VIP with the same low bits is not this frontend's")]
    public void No_fast_path_step(string from, string source, string destination)
    {
        _dataplane.DirectSlot(Web, 1, ["10.0.1.1:8080", "10.0.1.2:8080"]);

        Assert.That(FastPath(_dataplane.Explain(from, source, destination)), Is.Null);
    }

    [Test]
    public void A_table_switched_off_is_not_read()
    {
        _dataplane.DirectSlot(Web, 1, ["10.0.1.1:8080", "10.0.1.2:8080"]);
        _dataplane.Config = _dataplane.Config!.Value.WithDirectMask(0);

        Assert.That(FastPath(_dataplane.Explain("pod", "10.0.0.5", "10.96.0.10:80/tcp")), Is.Null);
    }

    [Test]
    public void A_copy_whose_check_fails_is_refused_as_the_programs_refuse_it()
    {
        var slot = _dataplane.DirectSlot(Web, 1, ["10.0.1.1:8080", "10.0.1.2:8080"]);
        Assert.That(_dataplane.Direct.TryLookup(slot, out var sealedEntry), Is.True);
        var torn = System.Runtime.InteropServices.MemoryMarshal.AsBytes(new[] { sealedEntry }.AsSpan()).ToArray();
        torn[20] ^= 1; // a backend byte written after the check was computed
        _dataplane.Direct.Update(slot, System.Runtime.InteropServices.MemoryMarshal.Read<NatDirectEntry4>(torn));

        Assert.That(FastPath(_dataplane.Explain("pod", "10.0.0.5", "10.96.0.10:80/tcp")), Is.Null);
    }
}
