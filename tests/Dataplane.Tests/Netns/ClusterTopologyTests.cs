using ProxyReplacement.Dataplane.Tests.Support;

namespace ProxyReplacement.Dataplane.Tests.Netns;

/// <summary>
/// The cleanup guarantees of <see cref="ClusterTopology"/>. Its routing (pod to pod across nodes, the external client
/// to a pod IP) is checked end to end by the e2e multi-node tests, which compile this harness in.
/// </summary>
[TestFixture]
[Category("Privileged")]
public sealed class ClusterTopologyTests
{
    [SetUp]
    public void SetUp() => Privileged.Require();

    [Test]
    public void Dispose_deletes_every_namespace_and_the_names_follow_the_documented_plan()
    {
        var topology = ClusterTopology.Create(nodeCount: 2, podsPerNode: 1);
        var names = topology.Namespaces.ToList();
        var prefix = topology.Prefix;

        Assert.Multiple(() =>
        {
            Assert.That(names, Is.EquivalentTo(new[] { "ul", "a", "b", "ext", "a0", "b0" }.Select(role => $"{prefix}-{role}")));
            Assert.That(names.All(TestNamespaces.Exists), Is.True);
            Assert.That(topology.Nodes.Select(n => $"{n.Name} {n.Address} {n.PodCidr}"),
                Is.EqualTo(new[] { "node-a 192.168.60.11 10.244.1.0/24", "node-b 192.168.60.12 10.244.2.0/24" }));
            Assert.That(topology.Node("node-b").Pods.Single().Address.ToString(), Is.EqualTo("10.244.2.2"));
            Assert.That(topology.Node("node-b").Pods.Single().HostInterface, Is.EqualTo($"{prefix}-b0"));
        });

        topology.Dispose();

        Assert.That(names.Where(TestNamespaces.Exists), Is.Empty);
    }

    [Test]
    public void A_construction_failing_halfway_deletes_what_it_created_and_nothing_else()
    {
        // Occupy the name node b's first pod would get: the underlay, both nodes and the external client exist by then.
        using var squatter = new TestNamespaces();
        squatter.Add("b0");

        Assert.That(() => ClusterTopology.Create(nodeCount: 2, podsPerNode: 1, prefix: squatter.Prefix),
            Throws.InvalidOperationException.With.Message.Contains($"{squatter.Prefix}-b0"));

        Assert.Multiple(() =>
        {
            foreach (var role in new[] { "ul", "a", "b", "ext", "a0" })
                Assert.That(TestNamespaces.Exists($"{squatter.Prefix}-{role}"), Is.False, role);
            Assert.That(TestNamespaces.Exists($"{squatter.Prefix}-b0"), Is.True, "not ours to delete");
        });
    }
}
