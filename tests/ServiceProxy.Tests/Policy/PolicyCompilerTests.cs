using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Policy;

namespace ProxyReplacement.ServiceProxy.Tests.Policy;

/// <summary>
/// The compiler's table tests: each bullet of Kubernetes' NetworkPolicy semantics (policy-design.md) on the small
/// cluster of <see cref="PolicyWorld"/>, asked through the compiled entries the way the dataplane asks them.
/// Addresses: x/a 10.0.1.1, x/b 10.0.1.2 (this node), x/c 10.0.2.1, y/a 10.0.2.2 (node-b), x/h host network 192.168.0.1.
/// </summary>
public sealed class PolicyCompilerTests
{
    private const string A = "10.0.1.1", B = "10.0.1.2", C = "10.0.2.1", YA = "10.0.2.2", Host = "192.168.0.1", Outside = "8.8.8.8";

    [Test]
    public void Without_policies_no_pod_is_isolated_and_only_this_nodes_pods_are_tracked()
    {
        var world = PolicyWorld.With();

        Assert.Multiple(() =>
        {
            // x/a and x/b are this node's pods: tracked ({0, 0}) so that a later policy keeps their established flows;
            // x/c and y/a are another node's, x/h is on the host network.
            Assert.That(world.Compiled.Endpoints.Select(e => (e.Key.Address.ToString(), e.Value.IngressSet, e.Value.EgressSet)),
                Is.EquivalentTo(new[] { (A, 0u, 0u), (B, 0u, 0u) }));
            Assert.That(world.Compiled.Ports, Is.Empty);
            Assert.That(world.Compiled.Peers, Is.Empty);
            Assert.That(world.Allows(A, "in", "tcp", 80, Outside), Is.True);
        });
    }

    [Test]
    public void A_policy_without_policy_types_and_without_egress_isolates_ingress_only()
    {
        var world = PolicyWorld.With(("deny-in", "podSelector: {}"));

        Assert.Multiple(() =>
        {
            Assert.That(world.Compiled.Endpoints[new PolicyEndpointKey4(System.Net.IPAddress.Parse(A))].EgressSet, Is.Zero);
            Assert.That(world.Allows(A, "in", "tcp", 80, B), Is.False, "deny all ingress");
            Assert.That(world.Allows(A, "in", "icmp", 0, B), Is.False);
            Assert.That(world.Allows(A, "out", "tcp", 80, Outside), Is.True, "egress not isolated");
        });
    }

    [Test]
    public void Egress_rules_without_policy_types_isolate_both_directions()
    {
        var world = PolicyWorld.With(("both", "podSelector: {matchLabels: {app: a}}\negress: [{ports: [{port: 53, protocol: UDP}]}]"));

        Assert.Multiple(() =>
        {
            Assert.That(world.Allows(A, "in", "tcp", 80, B), Is.False, "ingress isolated with no rule");
            Assert.That(world.Allows(A, "out", "udp", 53, Outside), Is.True);
            Assert.That(world.Allows(A, "out", "tcp", 53, Outside), Is.False);
            Assert.That(world.Allows(B, "in", "tcp", 80, A), Is.True, "x/b is not selected");
        });
    }

    [Test]
    public void Rules_of_a_direction_not_in_policy_types_are_ignored()
    {
        var world = PolicyWorld.With(("egress-only", "podSelector: {}\npolicyTypes: [Egress]\ningress: [{}]"));

        Assert.Multiple(() =>
        {
            Assert.That(world.Allows(A, "in", "tcp", 80, Outside), Is.True, "not isolated for ingress: its ingress rules mean nothing");
            Assert.That(world.Allows(A, "out", "tcp", 80, Outside), Is.False, "egress isolated with no rule: deny all egress");
            Assert.That(world.Compiled.RuleTable.Values, Is.Empty, "no rule id for ignored rules");
        });
    }

    [Test]
    public void The_rules_of_every_policy_selecting_a_pod_are_unioned()
    {
        var world = PolicyWorld.With(
            ("web", "podSelector: {matchLabels: {app: a}}\ningress: [{ports: [{port: 80}]}]"),
            ("metrics", "podSelector: {}\ningress: [{from: [{podSelector: {matchLabels: {app: b}}}], ports: [{port: 9100}]}]"));

        Assert.Multiple(() =>
        {
            Assert.That(world.Allows(A, "in", "tcp", 80, Outside), Is.True, "web: port 80 from anywhere");
            Assert.That(world.Allows(A, "in", "tcp", 9100, B), Is.True, "metrics: 9100 from x/b");
            Assert.That(world.Allows(A, "in", "tcp", 9100, C), Is.False, "metrics: 9100 from x/b only");
            Assert.That(world.Allows(A, "in", "tcp", 81, B), Is.False);
            Assert.That(world.Allows(B, "in", "tcp", 80, A), Is.False, "x/b: only metrics selects it");
            Assert.That(world.RuleName(world.Decide(A, "in", "tcp", 9100, B)), Is.EqualTo("x/metrics ingress[0]"));
            Assert.That(world.RuleName(world.Decide(A, "in", "tcp", 80, B)), Is.EqualTo("x/web ingress[0]"));
        });
    }

    [Test]
    public void An_empty_rule_allows_every_peer_port_and_protocol()
    {
        var world = PolicyWorld.With(("all", "podSelector: {}\ningress: [{}]"));

        Assert.Multiple(() =>
        {
            Assert.That(world.Allows(A, "in", "tcp", 1, Outside), Is.True);
            Assert.That(world.Allows(A, "in", "udp", 65535, C), Is.True);
            Assert.That(world.Allows(A, "in", "sctp", 7, YA), Is.True);
            Assert.That(world.Allows(A, "in", "icmp", 0, Outside), Is.True, "a rule without ports allows every protocol");
            Assert.That(world.Compiled.Ports.Keys.Select(k => (k.Protocol, k.PortPrefixBits)).Distinct(), Is.EquivalentTo(new[]
            {
                ((byte)6, 0), ((byte)17, 0), ((byte)132, 0), (PolicyPortKey.OtherProtocol, 0),
            }), "one entry per protocol, every port");
        });
    }

    [Test]
    public void A_rule_with_ports_allows_only_those_protocols_not_icmp()
    {
        var world = PolicyWorld.With(("tcp80", "podSelector: {}\ningress: [{ports: [{port: 80}]}]"));

        Assert.Multiple(() =>
        {
            Assert.That(world.Allows(A, "in", "tcp", 80, Outside), Is.True);
            Assert.That(world.Allows(A, "in", "udp", 80, Outside), Is.False, "protocol defaults to TCP");
            Assert.That(world.Allows(A, "in", "icmp", 0, Outside), Is.False, "other protocols only for port-less rules");
        });
    }

    [Test]
    public void A_port_without_a_number_allows_every_port_of_its_protocol()
    {
        var world = PolicyWorld.With(("udp", "podSelector: {}\ningress: [{ports: [{protocol: UDP}]}]"));

        Assert.Multiple(() =>
        {
            Assert.That(world.Allows(A, "in", "udp", 1, Outside), Is.True);
            Assert.That(world.Allows(A, "in", "udp", 65535, Outside), Is.True);
            Assert.That(world.Allows(A, "in", "tcp", 1, Outside), Is.False);
        });
    }

    [Test]
    public void A_pod_selector_alone_selects_pods_of_the_policys_namespace()
    {
        var world = PolicyWorld.With(("from-a", "podSelector: {}\ningress: [{from: [{podSelector: {matchLabels: {app: a}}}]}]"));

        Assert.Multiple(() =>
        {
            Assert.That(world.Allows(B, "in", "tcp", 80, A), Is.True, "x/a");
            Assert.That(world.Allows(B, "in", "tcp", 80, YA), Is.False, "y/a has the label but lives in y");
            Assert.That(world.Allows(B, "in", "tcp", 80, C), Is.False);
            Assert.That(world.Allows(B, "in", "tcp", 80, Host), Is.False, "a host-network pod is no pod peer");
        });
    }

    [Test]
    public void A_namespace_selector_alone_selects_every_pod_of_the_matching_namespaces()
    {
        var world = PolicyWorld.With(("from-y", "podSelector: {}\ningress: [{from: [{namespaceSelector: {matchLabels: {team: y}}}]}]"));

        Assert.Multiple(() =>
        {
            Assert.That(world.Allows(A, "in", "tcp", 80, YA), Is.True);
            Assert.That(world.Allows(A, "in", "tcp", 80, B), Is.False, "x is not team=y");
        });
    }

    [Test]
    public void Both_selectors_in_one_peer_intersect_and_in_two_peers_unite()
    {
        var combined = PolicyWorld.With(("p", "podSelector: {matchLabels: {app: b}}\ningress: [{from: [{namespaceSelector: {matchLabels: {team: y}}, podSelector: {matchLabels: {app: c}}}]}]"));
        var separate = PolicyWorld.With(("p", "podSelector: {matchLabels: {app: b}}\ningress: [{from: [{namespaceSelector: {matchLabels: {team: y}}}, {podSelector: {matchLabels: {app: c}}}]}]"));

        Assert.Multiple(() =>
        {
            Assert.That(combined.Allows(B, "in", "tcp", 80, YA), Is.False, "y/a is in y but not app=c");
            Assert.That(combined.Allows(B, "in", "tcp", 80, C), Is.False, "x/c is app=c but not in y");
            Assert.That(separate.Allows(B, "in", "tcp", 80, YA), Is.True, "any pod of y");
            Assert.That(separate.Allows(B, "in", "tcp", 80, C), Is.True, "app=c of x (the policy's namespace)");
            Assert.That(separate.Allows(B, "in", "tcp", 80, A), Is.False);
        });
    }

    [Test]
    public void A_namespace_selected_by_its_name_label_works_without_a_namespace_object_label()
    {
        var world = PolicyWorld.With(("p", "podSelector: {}\ningress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}}]}]"));

        Assert.That(world.Allows(A, "in", "tcp", 80, YA), Is.True);
    }

    [Test]
    public void An_ip_block_allows_its_cidr_but_the_excepts_and_overlapping_rules_allow_what_any_allows()
    {
        var world = PolicyWorld.With(("blocks", """
            podSelector: {matchLabels: {app: a}}
            ingress:
            - from: [{ipBlock: {cidr: 172.16.0.0/12, except: [172.17.0.0/16, 172.18.0.0/16]}}]
            - from: [{ipBlock: {cidr: 172.17.5.0/24}}]
            """));

        Assert.Multiple(() =>
        {
            Assert.That(world.Allows(A, "in", "tcp", 80, "172.16.0.1"), Is.True);
            Assert.That(world.Allows(A, "in", "tcp", 80, "172.17.0.1"), Is.False, "except");
            Assert.That(world.Allows(A, "in", "tcp", 80, "172.18.200.1"), Is.False, "except");
            Assert.That(world.Allows(A, "in", "tcp", 80, "172.17.5.9"), Is.True, "the second rule allows a part of the except");
            Assert.That(world.Allows(A, "in", "tcp", 80, "172.32.0.1"), Is.False, "outside the cidr");
            var denied = world.Decide(A, "in", "tcp", 80, "172.17.0.1");
            Assert.That(world.RuleName(denied), Is.EqualTo("x/blocks ingress[0]"), "a deny names the rule whose except matched");
            Assert.That(world.RuleName(world.Decide(A, "in", "tcp", 80, "172.17.5.9")), Is.EqualTo("x/blocks ingress[1]"));
            Assert.That(world.Compiled.Peers.Values.Count(v => v.Verdict == PolicyVerdict.Deny), Is.EqualTo(2), "one deny per except");
        });
    }

    [Test]
    public void An_except_under_a_deny_writes_no_entry_of_its_own()
    {
        var world = PolicyWorld.With(("p", "podSelector: {}\ningress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16, 10.1.2.0/24]}}], ports: [{port: 80}]}]"));

        Assert.Multiple(() =>
        {
            Assert.That(world.Compiled.Peers.Keys.Select(k => $"{k.Peer} {world.Compiled.Peers[k].Verdict}"), Is.EquivalentTo(new[] { "10.0.0.0/8 Allow", "10.1.0.0/16 Deny" }),
                "10.1.2.0/24 lies under the /16's deny: an entry for it would change nothing");
            Assert.That(world.Allows(A, "in", "tcp", 80, "10.1.2.3"), Is.False);
            Assert.That(world.Allows(A, "in", "tcp", 80, "10.1.3.3"), Is.False);
            Assert.That(world.Allows(A, "in", "tcp", 80, "10.2.2.3"), Is.True);
        });
    }

    [Test]
    public void A_named_port_in_ingress_resolves_against_each_endpoint()
    {
        var world = PolicyWorld.With(("http", "podSelector: {}\ningress: [{ports: [{port: http}]}]"));

        Assert.Multiple(() =>
        {
            Assert.That(world.Allows(A, "in", "tcp", 8080, Outside), Is.True, "x/a's http is 8080");
            Assert.That(world.Allows(A, "in", "tcp", 9090, Outside), Is.False);
            Assert.That(world.Allows(B, "in", "tcp", 9090, Outside), Is.True, "x/b's http is 9090");
            Assert.That(world.Allows(B, "in", "tcp", 8080, Outside), Is.False);
            Assert.That(world.Compiled.EndpointInfos.Select(e => e.IngressSet).Distinct().Count(), Is.EqualTo(2), "two contents, two sets");
        });
    }

    [Test]
    public void A_named_port_in_egress_resolves_against_each_destination_pod()
    {
        var world = PolicyWorld.With(("to-http", "podSelector: {matchLabels: {app: b}}\npolicyTypes: [Egress]\negress: [{to: [{namespaceSelector: {}}], ports: [{port: http}]}]"));

        Assert.Multiple(() =>
        {
            Assert.That(world.Allows(B, "out", "tcp", 8080, A), Is.True, "x/a's http");
            Assert.That(world.Allows(B, "out", "tcp", 8080, YA), Is.True, "y/a's http");
            Assert.That(world.Allows(B, "out", "tcp", 9090, A), Is.False, "9090 is not x/a's http");
            Assert.That(world.Allows(B, "out", "tcp", 8080, C), Is.False, "x/c has no port named http");
            Assert.That(world.Allows(B, "out", "tcp", 8080, Outside), Is.False, "not a pod");
        });
    }

    [Test]
    public void A_named_port_towards_an_ip_block_is_reported_and_the_rest_of_the_rule_enforced()
    {
        var world = PolicyWorld.With(("mixed", "podSelector: {matchLabels: {app: b}}\npolicyTypes: [Egress]\negress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}}], ports: [{port: http}, {port: 443}]}]"));

        Assert.Multiple(() =>
        {
            Assert.That(world.Allows(B, "out", "tcp", 443, "10.9.9.9"), Is.True);
            Assert.That(world.Allows(B, "out", "tcp", 8080, A), Is.False, "the named part is not enforced");
            var problem = world.Compiled.Problems.Single();
            Assert.That((problem.Policy, problem.Reason, problem.Skipped), Is.EqualTo((new ObjectKey("x", "mixed"), PolicyProblemReason.NamedPortIpBlock, false)));
        });
    }

    [Test]
    public void An_end_port_range_is_exact_prefix_blocks()
    {
        var world = PolicyWorld.With(("range", "podSelector: {matchLabels: {app: a}}\ningress: [{ports: [{port: 1000, endPort: 1010}]}]"));

        Assert.Multiple(() =>
        {
            Assert.That(world.Compiled.Ports.Keys.Select(k => (k.Port, k.PortPrefixBits)).Order(), Is.EqualTo(new[] { ((ushort)1000, 13), ((ushort)1008, 15), ((ushort)1010, 16) }),
                "1000-1007, 1008-1009, 1010");
            Assert.That(world.Allows(A, "in", "tcp", 999, Outside), Is.False);
            Assert.That(world.Allows(A, "in", "tcp", 1000, Outside), Is.True);
            Assert.That(world.Allows(A, "in", "tcp", 1010, Outside), Is.True);
            Assert.That(world.Allows(A, "in", "tcp", 1011, Outside), Is.False);
        });
    }

    [TestCase(0, 65535, 1)]
    [TestCase(1, 65535, 16)]
    [TestCase(1, 65534, 30)]
    [TestCase(80, 80, 1)]
    [TestCase(1024, 2047, 1)]
    public void Port_blocks_cover_exactly_the_range(int first, int last, int blocks)
    {
        var result = PortBlocks.Of(first, last).ToList();
        var covered = result.SelectMany(b => Enumerable.Range(b.Port, 1 << (16 - b.Bits))).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(covered, Is.EqualTo(Enumerable.Range(first, last - first + 1)));
            Assert.That(result, Has.Count.EqualTo(blocks));
            Assert.That(result, Has.All.Matches<(int Port, int Bits)>(b => b.Port % (1 << (16 - b.Bits)) == 0), "aligned");
        });
    }

    [Test]
    public void Overlapping_port_ranges_split_into_classes_of_the_rules_covering_them()
    {
        var world = PolicyWorld.With(("p", """
            podSelector: {matchLabels: {app: a}}
            ingress:
            - from: [{podSelector: {matchLabels: {app: b}}}]
              ports: [{port: 100, endPort: 200}]
            - from: [{ipBlock: {cidr: 8.8.8.0/24}}]
              ports: [{port: 150, endPort: 300}, {port: 150, endPort: 300, protocol: UDP}]
            """));

        Assert.Multiple(() =>
        {
            Assert.That(world.Allows(A, "in", "tcp", 120, B), Is.True);
            Assert.That(world.Allows(A, "in", "tcp", 120, Outside), Is.False, "120 is the first rule's only");
            Assert.That(world.Allows(A, "in", "tcp", 170, B), Is.True, "both rules cover 170");
            Assert.That(world.Allows(A, "in", "tcp", 170, Outside), Is.True);
            Assert.That(world.Allows(A, "in", "tcp", 250, B), Is.False, "250 is the second rule's only");
            Assert.That(world.Allows(A, "in", "tcp", 250, Outside), Is.True);
            Assert.That(world.Allows(A, "in", "udp", 250, Outside), Is.True);
            var tcp250 = world.Decide(A, "in", "tcp", 250, Outside).PortClass;
            var udp250 = world.Decide(A, "in", "udp", 250, Outside).PortClass;
            Assert.That(udp250, Is.EqualTo(tcp250), "one class for one rule combination, across protocols");
            Assert.That(world.Compiled.Ports.Values.Select(v => v.PortClass).Distinct().Count(), Is.EqualTo(3), "{1}, {1,2}, {2}");
        });
    }

    [Test]
    public void Sctp_ports_are_their_own_protocol()
    {
        var world = PolicyWorld.With(("sctp", "podSelector: {}\ningress: [{ports: [{port: 7000, protocol: SCTP}]}]"));

        Assert.Multiple(() =>
        {
            Assert.That(world.Allows(A, "in", "sctp", 7000, Outside), Is.True);
            Assert.That(world.Allows(A, "in", "tcp", 7000, Outside), Is.False);
        });
    }

    [Test]
    public void Only_pods_of_this_node_that_take_part_are_endpoints()
    {
        var world = PolicyWorld.With(("deny", "podSelector: {}"), ("y/deny", "podSelector: {}"));

        Assert.Multiple(() =>
        {
            Assert.That(world.Compiled.EndpointInfos.Select(e => e.Pod.ToString()), Is.EqualTo(new[] { "x/a", "x/b" }),
                "x/c and y/a are on node-b; x/h uses the host's network");
            Assert.That(world.Compiled.Endpoints.Keys.Select(k => k.ToString()), Is.EquivalentTo(new[] { A, B }));
        });
    }

    [Test]
    public void Endpoints_with_the_same_rules_share_a_set_and_ids_survive_a_recompile()
    {
        var first = PolicyWorld.With(("deny", "podSelector: {}"));
        var inputs = PolicyWorld.Inputs(PolicyWorld.Cluster + PolicyWorld.Policies(("deny", "podSelector: {}"),
            ("web", "podSelector: {matchLabels: {app: b}}\ningress: [{ports: [{port: 80}]}]")));

        var second = PolicyCompiler.Compile(inputs, PolicyWorld.Node, first.Compiled.Ids);

        var sharedSet = first.Compiled.EndpointInfos.Select(e => e.IngressSet).Distinct().Single();
        Assert.Multiple(() =>
        {
            Assert.That(first.Compiled.Sets, Has.Count.EqualTo(1), "x/a and x/b share the deny-all set");
            Assert.That(second.EndpointInfos.Single(e => e.Pod.Name == "a").IngressSet, Is.EqualTo(sharedSet), "x/a's set did not change: same id");
            Assert.That(second.EndpointInfos.Single(e => e.Pod.Name == "b").IngressSet, Is.Not.EqualTo(sharedSet).And.Not.Zero, "x/b's did: a new id");
            Assert.That(second.RuleTable.Values.Select(r => r.ToString()), Is.EquivalentTo(new[] { "x/web ingress[0]" }));
        });
    }

    [Test]
    public void A_new_set_never_takes_an_id_a_previous_compile_used()
    {
        var first = PolicyWorld.With(("web", "podSelector: {}\ningress: [{ports: [{port: 80}]}]"));
        var inputs = PolicyWorld.Inputs(PolicyWorld.Cluster + PolicyWorld.Policies(("web", "podSelector: {}\ningress: [{ports: [{port: 81}]}]")));

        var second = PolicyCompiler.Compile(inputs, PolicyWorld.Node, first.Compiled.Ids);

        Assert.That(second.Sets.Keys.Intersect(first.Compiled.Sets.Keys), Is.Empty, "the old set's entries may still be in the maps while the new one is written");
    }

    [Test]
    public void Ipv6_ip_blocks_are_reported_and_left_out()
    {
        var world = PolicyWorld.With(("v6", "podSelector: {}\ningress: [{from: [{ipBlock: {cidr: 'fd00::/8'}}, {ipBlock: {cidr: 8.8.8.0/24}}]}]"));

        Assert.Multiple(() =>
        {
            Assert.That(world.Allows(A, "in", "tcp", 80, Outside), Is.True);
            Assert.That(world.Compiled.Problems.Single().Reason, Is.EqualTo(PolicyProblemReason.Ipv6Unsupported));
        });
    }

    [Test]
    public void Terminated_pods_are_no_peers()
    {
        var inputs = PolicyWorld.Inputs(PolicyWorld.Cluster.Replace("status: {podIP: 10.0.2.1}", "status: {podIP: 10.0.2.1, phase: Failed}") +
            PolicyWorld.Policies(("p", "podSelector: {}\ningress: [{from: [{podSelector: {}}]}]")));
        var compiled = PolicyCompiler.Compile(inputs, PolicyWorld.Node);
        var lookup = new PolicyMapLookup(compiled.Endpoints, compiled.Ports.ToList(), compiled.Peers.ToList());

        Assert.Multiple(() =>
        {
            Assert.That(lookup.Decide(System.Net.IPAddress.Parse(A), PolicyDirection.Ingress, 6, 80, System.Net.IPAddress.Parse(B)).Allowed, Is.True);
            Assert.That(lookup.Decide(System.Net.IPAddress.Parse(A), PolicyDirection.Ingress, 6, 80, System.Net.IPAddress.Parse(C)).Allowed, Is.False);
        });
    }

    [Test]
    public void Rejected_policies_are_among_the_problems()
    {
        var inputs = PolicyWorld.Inputs(PolicyWorld.Cluster) with
        {
            Rejected = [new PolicyProblem(new ObjectKey("x", "bad"), PolicyProblemReason.InvalidCidr, "bad cidr", Skipped: true)],
        };

        var compiled = PolicyCompiler.Compile(inputs, PolicyWorld.Node);

        Assert.That(compiled.Problems.Single().Policy, Is.EqualTo(new ObjectKey("x", "bad")));
    }
}
