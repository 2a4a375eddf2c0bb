using System.Net;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Parsing;

namespace ProxyReplacement.ServiceProxy.Tests.Parsing;

/// <summary><c>v1 Node</c> objects in manifests, read through the <see cref="NodeRules"/> the API source shares.</summary>
public sealed class NodeManifestTests
{
    [Test]
    public void A_node_gives_its_name_zone_addresses_pod_cidrs_and_taints()
    {
        const string yaml = """
            apiVersion: v1
            kind: Node
            metadata:
              name: node-a
              labels:
                topology.kubernetes.io/zone: zone-a
                kubernetes.io/hostname: node-a
            spec:
              podCIDR: 10.244.1.0/24
              podCIDRs: [10.244.1.0/24, fd00:1::/64]
              taints:
              - {key: node-role.kubernetes.io/control-plane, effect: NoSchedule}
            status:
              addresses:
              - {type: InternalIP, address: 192.168.1.10}
              - {type: ExternalIP, address: 203.0.113.10}
              - {type: Hostname, address: node-a}
              - {type: SomethingNew, address: whatever}
            """;

        var set = ManifestReader.Parse(yaml, "nodes.yaml");

        Assert.That(set.Diagnostics, Is.Empty);
        var node = set.Nodes.Single();
        Assert.Multiple(() =>
        {
            Assert.That(node.Name, Is.EqualTo("node-a"));
            Assert.That(node.Zone, Is.EqualTo("zone-a"));
            Assert.That(node.IPs(NodeAddressType.InternalIP), Is.EqualTo(new[] { IPAddress.Parse("192.168.1.10") }));
            Assert.That(node.IPs(NodeAddressType.ExternalIP), Is.EqualTo(new[] { IPAddress.Parse("203.0.113.10") }));
            Assert.That(node.Addresses.Select(a => a.Type), Is.EqualTo(new[] { NodeAddressType.InternalIP, NodeAddressType.ExternalIP, NodeAddressType.Hostname }),
                "an address type newer than the proxy is skipped, not an error");
            Assert.That(node.PodCidrs.Select(c => c.ToString()), Is.EqualTo(new[] { "10.244.1.0/24", "fd00:1::/64" }), "podCIDRs wins over podCIDR");
            Assert.That(node.TaintKeys, Is.EqualTo(new[] { "node-role.kubernetes.io/control-plane" }));
            Assert.That(node.Draining, Is.False);
        });
    }

    [Test]
    public void A_minimal_node_is_a_name_and_nothing_else()
    {
        var node = ManifestReader.Parse("{apiVersion: v1, kind: Node, metadata: {name: n1}}", "n.yaml").Nodes.Single();

        Assert.That(node, Is.EqualTo(new Node("n1", EquatableList<NodeAddress>.Empty, null)));
    }

    [Test]
    public void Deletion_and_the_autoscaler_taint_mark_a_node_draining()
    {
        const string yaml = """
            apiVersion: v1
            kind: Node
            metadata: {name: going, deletionTimestamp: "2026-12-06T10:00:00Z"}
            ---
            apiVersion: v1
            kind: Node
            metadata: {name: scaled-down}
            spec:
              taints: [{key: ToBeDeletedByClusterAutoscaler, value: "1733480000", effect: NoSchedule}]
            """;

        var nodes = ManifestReader.Parse(yaml, "n.yaml").Nodes;

        Assert.That(nodes.Select(n => (n.Name, n.BeingDeleted, n.Draining)),
            Is.EqualTo(new[] { ("going", true, true), ("scaled-down", false, true) }));
    }

    [Test]
    public void A_namespace_on_a_node_is_ignored_and_nodes_sit_in_lists_beside_services()
    {
        const string yaml = """
            apiVersion: v1
            kind: List
            items:
            - {apiVersion: v1, kind: Node, metadata: {name: n1, namespace: kube-system, labels: {topology.kubernetes.io/zone: z1}}}
            - apiVersion: v1
              kind: Service
              metadata: {name: web}
              spec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}
            """;

        var set = ManifestReader.Parse(yaml, "all.yaml");

        Assert.That(set.Diagnostics, Is.Empty);
        Assert.That(set.Nodes.Single().Zone, Is.EqualTo("z1"));
        Assert.That(set.Services.Single().Name, Is.EqualTo("web"));
    }

    [TestCase("{apiVersion: v1, kind: Node, metadata: {name: n1}, status: {addresses: [{type: InternalIP, address: not-an-ip}]}}",
        "status.addresses[0].address")]
    [TestCase("{apiVersion: v1, kind: Node, metadata: {name: n1}, status: {addresses: [{type: InternalIP}]}}",
        "status.addresses[0].address: required")]
    [TestCase("{apiVersion: v1, kind: Node, metadata: {name: n1}, spec: {podCIDRs: [10.244.1.0/99]}}", "spec.podCIDRs[0]")]
    [TestCase("{apiVersion: v1, kind: Node, metadata: {name: n1}, spec: {taints: [{effect: NoSchedule}]}}", "spec.taints[0].key: required")]
    [TestCase("{apiVersion: v1, kind: Node, metadata: {name: n1}, spec: {taints: [oops]}}", "spec.taints[0]: expected an object")]
    [TestCase("{apiVersion: v1, kind: Node, metadata: {name: N_1}}", "metadata.name")]
    [TestCase("{apiVersion: v2, kind: Node, metadata: {name: n1}}", "apiVersion: 'v2' is not supported for Node (expected v1)")]
    public void A_malformed_node_is_reported_with_its_field_and_skipped(string yaml, string expected)
    {
        var set = ManifestReader.Parse(yaml + "\n---\n{apiVersion: v1, kind: Node, metadata: {name: fine}}", "bad.yaml");

        Assert.That(set.Nodes.Select(n => n.Name), Is.EqualTo(new[] { "fine" }));
        var diagnostic = set.Diagnostics.Single();
        Assert.That(diagnostic.Kind, Is.EqualTo("Node"));
        Assert.That(diagnostic.Reason, Does.Contain(expected));
    }

    [Test]
    public void A_duplicate_node_is_reported()
    {
        var set = ManifestReader.Parse("{apiVersion: v1, kind: Node, metadata: {name: n1}}\n---\n{apiVersion: v1, kind: Node, metadata: {name: n1}}", "d.yaml");

        Assert.That(set.Nodes, Has.Count.EqualTo(1));
        Assert.That(set.Diagnostics.Single().Reason, Does.StartWith("duplicate Node"));
    }
}
