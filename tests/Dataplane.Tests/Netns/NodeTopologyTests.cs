using System.Net;
using ProxyReplacement.Dataplane.Tests.Support;

namespace ProxyReplacement.Dataplane.Tests.Netns;

[TestFixture]
[Category("Privileged")]
public sealed class NodeTopologyTests
{
    [SetUp]
    public void SetUp() => Privileged.Require();

    [Test]
    public async Task Client_reaches_a_backend_through_the_node_without_any_program()
    {
        using var topology = NodeTopology.Create(backendCount: 2);
        var backend = topology.Backends[1];
        using var server = TcpEchoServer.Start(backend.Namespace, new IPEndPoint(backend.Address, 8080));

        using var client = await NetnsSockets.ConnectTcpAsync(topology.Client.Namespace, new IPEndPoint(backend.Address, 8080));
        var echoed = await NetnsSockets.SendLineAndReadEchoAsync(client, "routed by the node");

        Assert.Multiple(() =>
        {
            Assert.That(echoed, Is.EqualTo("routed by the node"));
            Assert.That(topology.Client.Address, Is.EqualTo(IPAddress.Parse("10.201.1.2")));
            Assert.That(backend.Address, Is.EqualTo(IPAddress.Parse("10.201.3.2")));
            Assert.That(server.Peers, Is.EquivalentTo(new[] { (IPEndPoint)client.LocalEndPoint! }));
        });
    }

    [Test]
    public void Dispose_deletes_every_namespace()
    {
        var topology = NodeTopology.Create(backendCount: 1);
        var names = topology.Namespaces.ToList();
        Assert.That(names, Has.Count.EqualTo(3).And.All.StartsWith("prt-"));
        Assert.That(names.All(TestNamespaces.Exists), Is.True);

        topology.Dispose();

        Assert.That(names.Where(TestNamespaces.Exists), Is.Empty);
    }

    [Test]
    public void A_construction_failing_halfway_deletes_what_it_created_and_nothing_else()
    {
        // Occupy the name the backend pod would get so that construction fails after node and client exist.
        using var squatter = new TestNamespaces();
        squatter.Add("be0");

        Assert.That(() => NodeTopology.Create(backendCount: 1, prefix: squatter.Prefix),
            Throws.InvalidOperationException.With.Message.Contains($"{squatter.Prefix}-be0"));

        Assert.Multiple(() =>
        {
            Assert.That(TestNamespaces.Exists($"{squatter.Prefix}-node"), Is.False);
            Assert.That(TestNamespaces.Exists($"{squatter.Prefix}-cli"), Is.False);
            Assert.That(TestNamespaces.Exists($"{squatter.Prefix}-be0"), Is.True, "not ours to delete");
        });
    }
}
