using System.Net;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.Dataplane.Tests.Support;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Routing;

namespace ProxyReplacement.ServiceProxy.Tests.Routing;

/// <summary>
/// The routing module against the real <c>pr_routes4</c> (an LPM trie) of a core dataplane loaded on a private bpffs:
/// the kernel's longest-prefix lookups (what the NAT programs do with a chosen backend and a Geneve packet's outer
/// source) give what the builder decided, and a reloaded dataplane's pinned routes are adopted without a write.
/// </summary>
[Category("Privileged")]
public sealed class RoutesMapKernelTests
{
    private static readonly CoreMapSizes Small = new(Frontends: 32, Backends: 64, Affinity: 32, Conntrack: 128, SocketReverse: 32, LbSourceRanges: 16, Routes: 64);

    private BpffsMount? _bpffs;

    private string PinRoot => Path.Combine(_bpffs!.Path, "pr");

    [SetUp]
    public void MountBpffs()
    {
        Privileged.Require();
        _bpffs = BpffsMount.Create();
    }

    [TearDown]
    public void Unmount() => _bpffs?.Dispose();

    private CoreDataplane Load() => CoreDataplane.Load(new DataplaneOptions { PinRoot = PinRoot, Sizes = Small });

    private static Node N(string name, string address, params string[] cidrs) =>
        new(name, new[] { new NodeAddress(NodeAddressType.InternalIP, address, IPAddress.Parse(address)) }.ToEquatableList(), null,
            cidrs.Select(IPNetwork.Parse).ToEquatableList());

    // node-c's /16 holds node-a's and node-b's /24s: reported, all kept, the kernel's longest prefix decides
    private static readonly Node[] Cluster =
    [
        N("node-a", "192.168.1.10", "10.244.1.0/24"),
        N("node-b", "192.168.1.11", "10.244.2.0/24"),
        N("node-c", "192.168.1.12", "10.244.0.0/16"),
    ];

    /// <summary>The kernel's LPM lookup of one address (a /32 key), as the programs do it.</summary>
    private static RouteValue? Lookup(IBpfMap<RouteKey4, RouteValue> routes, string address) =>
        routes.TryLookup(new RouteKey4(new IPNetwork(IPAddress.Parse(address), 32)), out var value) ? value : null;

    [Test]
    public void Longest_prefix_lookups_in_the_kernel_find_the_owner_of_pod_and_node_addresses()
    {
        using var dataplane = Load();
        var desired = RouteBuilder.Build(Cluster, "node-a");

        var written = new RouteWriter(dataplane.Routes).Apply(desired.Entries, reread: false);

        var b = IPAddress.Parse("192.168.1.11");
        var c = IPAddress.Parse("192.168.1.12");
        Assert.Multiple(() =>
        {
            Assert.That(written.Problems, Is.Empty);
            Assert.That(written.Writes, Is.EqualTo(6));
            Assert.That(desired.Problems.Select(problem => problem.Reason).ToList(),
                Has.Count.EqualTo(2).And.All.Contain("overlaps node node-c's pod CIDR 10.244.0.0/16"), "node-a's and node-b's /24s");
            Assert.That(RouteDump.Lines(dataplane.Routes.ReadAll()), Is.EqualTo(RouteDump.Lines(desired.Entries)), "the trie holds exactly the desired entries");

            // a backend pod on another node: REMOTE, sent to that node's address
            Assert.That(Lookup(dataplane.Routes, "10.244.2.7"), Is.EqualTo(new RouteValue(RouteFlags.Remote, b)));
            // inside node-c's /16 but outside node-b's /24
            Assert.That(Lookup(dataplane.Routes, "10.244.3.1"), Is.EqualTo(new RouteValue(RouteFlags.Remote, c)));
            // this node's pods
            Assert.That(Lookup(dataplane.Routes, "10.244.1.9")?.Flags, Is.EqualTo(RouteFlags.Local));
            // node addresses: NODE (a Geneve packet from there is accepted), and a hostNetwork backend's owner
            Assert.That(Lookup(dataplane.Routes, "192.168.1.11"), Is.EqualTo(new RouteValue(RouteFlags.Remote | RouteFlags.Node, b)));
            Assert.That(Lookup(dataplane.Routes, "192.168.1.10")?.Flags, Is.EqualTo(RouteFlags.Local | RouteFlags.Node));
            // anything else: no entry (local: the kernel routes it); a neighbour of a node address is no node
            Assert.That(Lookup(dataplane.Routes, "8.8.8.8"), Is.Null);
            Assert.That(Lookup(dataplane.Routes, "192.168.1.13"), Is.Null);
        });
    }

    [Test]
    public void A_reloaded_dataplane_keeps_the_pinned_routes_and_a_new_writer_adopts_them_without_a_write()
    {
        using (var first = Load())
            new RouteWriter(first.Routes).Apply(RouteBuilder.Build(Cluster, "node-a").Entries, reread: false);

        using var reloaded = Load();
        var writer = new RouteWriter(reloaded.Routes);
        var adopted = writer.Apply(RouteBuilder.Build(Cluster, "node-a").Entries, reread: false);
        Assert.Multiple(() =>
        {
            Assert.That(reloaded.AdoptedMaps, Does.Contain("pr_routes4"));
            Assert.That(adopted.Writes, Is.Zero);
            Assert.That(adopted.Problems, Is.Empty);
        });

        // node-b leaves: its /24 and /32 go; its pods' addresses fall back to node-c's /16
        var without = writer.Apply(RouteBuilder.Build(Cluster.Where(node => node.Name != "node-b"), "node-a").Entries, reread: true);
        Assert.Multiple(() =>
        {
            Assert.That(without.Writes, Is.EqualTo(2));
            Assert.That(Lookup(reloaded.Routes, "10.244.2.7"), Is.EqualTo(new RouteValue(RouteFlags.Remote, IPAddress.Parse("192.168.1.12"))));
            Assert.That(Lookup(reloaded.Routes, "192.168.1.11"), Is.Null);
        });
    }
}
