using System.Net;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Parsing;

namespace ProxyReplacement.ServiceProxy.Tests.Parsing;

/// <summary>Pods, Namespaces and NetworkPolicies in manifests: the same rules as the API source (YAML is decoded as the API's JSON).</summary>
public sealed class PolicyManifestTests
{
    [Test]
    public void A_pod_keeps_its_labels_ips_node_host_network_phase_and_named_ports_only()
    {
        const string yaml = """
            apiVersion: v1
            kind: Pod
            metadata: {name: web-1, namespace: shop, labels: {app: web}}
            spec:
              nodeName: node-a
              containers:
              - name: c1
                ports:
                - {name: http, containerPort: 8080}
                - {containerPort: 9000}
                - {name: dns, containerPort: 53, protocol: UDP}
              - name: c2
                ports:
                - {name: sig, containerPort: 7000, protocol: SCTP}
            status:
              phase: Running
              podIP: 10.244.1.5
              podIPs: [{ip: 10.244.1.5}, {ip: "fd00::5"}]
            """;

        var set = ManifestReader.Parse(yaml, "pods.yaml");

        Assert.That(set.Diagnostics, Is.Empty);
        var pod = set.Pods.Single();
        Assert.Multiple(() =>
        {
            Assert.That(pod.Key, Is.EqualTo(new ObjectKey("shop", "web-1")));
            Assert.That(pod.Labels["app"], Is.EqualTo("web"));
            Assert.That(pod.Ips, Is.EqualTo(new[] { IPAddress.Parse("10.244.1.5"), IPAddress.Parse("fd00::5") }));
            Assert.That(pod.NodeName, Is.EqualTo("node-a"));
            Assert.That(pod.HostNetwork, Is.False);
            Assert.That(pod.Terminated, Is.False);
            Assert.That(pod.TakesPart, Is.True);
            Assert.That(pod.NamedPorts, Is.EqualTo(new[]
            {
                new NamedContainerPort("http", PolicyProtocol.Tcp, 8080),
                new NamedContainerPort("dns", PolicyProtocol.Udp, 53),
                new NamedContainerPort("sig", PolicyProtocol.Sctp, 7000),
            }), "unnamed ports are not kept");
        });
    }

    [TestCase("spec: {hostNetwork: true}\nstatus: {podIP: 192.168.0.5}", "host network")]
    [TestCase("status: {phase: Succeeded, podIP: 10.0.0.1}", "terminated")]
    [TestCase("status: {phase: Pending}", "no IP yet")]
    public void A_pod_without_its_own_running_ip_takes_no_part(string rest, string why)
    {
        var pod = ManifestReader.Parse($"apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: n}}\n{rest}", "p.yaml").Pods.Single();

        Assert.That(pod.TakesPart, Is.False, why);
    }

    [Test]
    public void A_namespace_carries_the_name_label_the_api_server_sets()
    {
        var ns = ManifestReader.Parse("{apiVersion: v1, kind: Namespace, metadata: {name: shop, namespace: ignored, labels: {team: a}}}", "n.yaml")
            .Namespaces.Single();

        Assert.That(ns, Is.EqualTo(new PodNamespace("shop", Labels.From([new("team", "a"), new(PodNamespace.NameLabel, "shop")]))));
    }

    [Test]
    public void A_policy_reads_into_the_model_with_policy_types_defaulted()
    {
        const string yaml = """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: allow, namespace: shop}
            spec:
              podSelector:
                matchLabels: {app: db}
                matchExpressions: [{key: tier, operator: NotIn, values: [test]}]
              ingress:
              - from:
                - podSelector: {matchLabels: {app: web}}
                  namespaceSelector: {}
                - ipBlock: {cidr: 10.0.0.7/8, except: [10.1.0.0/16]}
                ports:
                - {port: 5432}
                - {protocol: UDP, port: 1000, endPort: 1010}
                - {port: metrics}
                - {protocol: SCTP}
              egress:
              - {}
            """;

        var set = ManifestReader.Parse(yaml, "p.yaml");

        Assert.That(set.Diagnostics, Is.Empty);
        var policy = set.NetworkPolicies.Single();
        Assert.Multiple(() =>
        {
            Assert.That(policy.Key, Is.EqualTo(new ObjectKey("shop", "allow")));
            Assert.That(policy.PodSelector.ToString(), Is.EqualTo("app=db,tier notin (test)"));
            Assert.That(policy.IsolatesIngress, Is.True);
            Assert.That(policy.IsolatesEgress, Is.True, "spec.egress has a rule: Egress is defaulted in");
            var rule = policy.Ingress.Single();
            Assert.That(rule.Peers.Select(p => p.ToString()), Is.EqualTo(new[]
            {
                "pods app=web in namespaces {}", "ipBlock 10.0.0.0/8 except 10.1.0.0/16",
            }));
            Assert.That(rule.Ports.Select(p => p.ToString()), Is.EqualTo(new[] { "5432/TCP", "1000-1010/UDP", "metrics/TCP", "*/SCTP" }));
            Assert.That(policy.Egress.Single(), Is.EqualTo(new PolicyRule(EquatableList<PolicyPeer>.Empty, EquatableList<PolicyPort>.Empty)));
        });
    }

    [Test]
    public void Policy_types_are_ingress_only_without_egress_rules_and_as_written_when_given()
    {
        var set = ManifestReader.Parse("""
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: a, namespace: n}
            spec: {podSelector: {}, egress: []}
            ---
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: b, namespace: n}
            spec: {podSelector: {}, policyTypes: [Egress]}
            """, "p.yaml");

        Assert.That(set.NetworkPolicies.Select(p => (p.Key.Name, p.IsolatesIngress, p.IsolatesEgress)),
            Is.EqualTo(new[] { ("a", true, false), ("b", false, true) }));
    }

    [TestCase("ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/33}}]}]", PolicyProblemReason.InvalidCidr, "spec.ingress[0].from[0].ipBlock.cidr")]
    [TestCase("ingress: [{from: [{ipBlock: {cidr: nonsense}}]}]", PolicyProblemReason.InvalidCidr, "ipBlock.cidr")]
    [TestCase("ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}}]}]", PolicyProblemReason.ExceptOutsideCidr, "except[0]")]
    [TestCase("ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.0/8]}}]}]", PolicyProblemReason.ExceptOutsideCidr, "except[0]")]
    [TestCase("ingress: [{ports: [{port: 100, endPort: 99}]}]", PolicyProblemReason.EndPort, "spec.ingress[0].ports[0].endPort")]
    [TestCase("ingress: [{ports: [{endPort: 99}]}]", PolicyProblemReason.EndPort, "endPort")]
    [TestCase("egress: [{ports: [{port: http, endPort: 99}]}]", PolicyProblemReason.NamedEndPort, "spec.egress[0].ports[0].endPort")]
    [TestCase("ingress: [{ports: [{port: 0}]}]", PolicyProblemReason.Port, "port")]
    [TestCase("ingress: [{ports: [{port: Bad_Name}]}]", PolicyProblemReason.Port, "port")]
    [TestCase("ingress: [{ports: [{protocol: ICMP}]}]", PolicyProblemReason.Protocol, "protocol")]
    [TestCase("ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]", PolicyProblemReason.MixedPeer, "from[0]")]
    [TestCase("ingress: [{from: [{}]}]", PolicyProblemReason.EmptyPeer, "from[0]")]
    [TestCase("ingress: [{from: [{podSelector: {matchExpressions: [{key: a, operator: Equals, values: [b]}]}}]}]", PolicyProblemReason.Selector, "operator")]
    [TestCase("ingress: [{from: [{podSelector: {matchExpressions: [{key: a, operator: In}]}}]}]", PolicyProblemReason.Selector, "values")]
    [TestCase("ingress: [{from: [{podSelector: {matchExpressions: [{key: a, operator: Exists, values: [b]}]}}]}]", PolicyProblemReason.Selector, "values")]
    [TestCase("policyTypes: [Sideways]", PolicyProblemReason.PolicyTypes, "policyTypes[0]")]
    [TestCase("ingress: [{ports: [{port: [80]}]}]", PolicyProblemReason.Malformed, "spec.ingress[0].ports[0].port")]
    public void A_malformed_policy_is_skipped_with_its_reason_and_the_others_load(string spec, string reason, string field)
    {
        var yaml = $"""
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {"{name: bad, namespace: n}"}
            spec:
              podSelector: {"{}"}
              {spec}
            ---
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {"{name: good, namespace: n}"}
            spec: {"{podSelector: {}}"}
            """;

        var set = ManifestReader.Parse(yaml, "p.yaml");

        Assert.Multiple(() =>
        {
            Assert.That(set.NetworkPolicies.Select(p => p.Key.Name), Is.EqualTo(new[] { "good" }));
            var diagnostic = set.Diagnostics.Single();
            Assert.That(diagnostic.Kind, Is.EqualTo("NetworkPolicy"));
            Assert.That(diagnostic.ObjectName, Is.EqualTo("n/bad"));
            Assert.That(diagnostic.Reason, Does.Contain(field));
            Assert.That(PolicyProblemReason.Of(diagnostic.Reason), Is.EqualTo(reason));
        });
    }

    [Test]
    public void Without_the_policy_kinds_pods_namespaces_and_policies_are_ignored_like_any_other_kind()
    {
        var set = ManifestReader.Parse("""
            {apiVersion: v1, kind: Pod, metadata: {name: p, namespace: n}}
            ---
            {apiVersion: v1, kind: Namespace, metadata: {name: n}}
            ---
            {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: bad, namespace: n}, spec: {policyTypes: [Sideways]}}
            """, "p.yaml", policyKinds: false);

        Assert.Multiple(() =>
        {
            Assert.That(set.HasPolicyInputs, Is.False);
            Assert.That(set.Diagnostics, Is.Empty, "not read, so not judged");
        });
    }
}
