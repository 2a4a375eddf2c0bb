using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Routing;

namespace ProxyReplacement.ServiceProxy.Tests.Routing;

/// <summary>
/// Table tests of <see cref="RouteBuilder"/>: Nodes and this node's name in, the entries of pr_routes4 (as
/// <see cref="RouteDump"/> lines) and the problems out. Written by hand from the rules in its summary.
/// </summary>
public sealed class RouteBuilderTests
{
    /// <summary>A Node: addresses as "InternalIP 1.2.3.4" / "ExternalIP ..." (a bare address is an InternalIP), CIDRs by their slash.</summary>
    private static Node N(string name, params string[] items)
    {
        var addresses = new List<NodeAddress>();
        var cidrs = new List<IPNetwork>();
        foreach (var item in items)
        {
            if (item.Contains('/'))
            {
                cidrs.Add(IPNetwork.Parse(item));
                continue;
            }
            var parts = item.Split(' ');
            var (type, text) = parts.Length == 2 ? (Enum.Parse<NodeAddressType>(parts[0]), parts[1]) : (NodeAddressType.InternalIP, parts[0]);
            addresses.Add(new NodeAddress(type, text, IPAddress.Parse(text)));
        }
        return new Node(name, addresses.ToEquatableList(), null, cidrs.ToEquatableList());
    }

    public sealed record Case(string Name, string ThisNode, Node[] Nodes, string[] Routes, string[] Problems)
    {
        public override string ToString() => Name;
    }

    private static IEnumerable<Case> Cases() =>
    [
        new("no nodes: no routes (every address local, as on one node)", "a", [], [], []),
        new("three nodes, this one in the middle", "b",
            [N("a", "192.168.1.10", "10.244.0.0/24"), N("b", "192.168.1.11", "10.244.1.0/24"), N("c", "192.168.1.12", "10.244.2.0/24")],
            [
                "rt 10.244.0.0/24 remote via 192.168.1.10",
                "rt 10.244.1.0/24 local via 192.168.1.11",
                "rt 10.244.2.0/24 remote via 192.168.1.12",
                "rt 192.168.1.10/32 remote node via 192.168.1.10",
                "rt 192.168.1.11/32 local node via 192.168.1.11",
                "rt 192.168.1.12/32 remote node via 192.168.1.12",
            ], []),
        new("a node without pod CIDRs still gets its /32 (a tunnel peer, a hostNetwork backend)", "a",
            [N("a", "192.168.1.10", "10.244.0.0/24"), N("b", "192.168.1.11")],
            [
                "rt 10.244.0.0/24 local via 192.168.1.10",
                "rt 192.168.1.10/32 local node via 192.168.1.10",
                "rt 192.168.1.11/32 remote node via 192.168.1.11",
            ], []),
        new("several InternalIPs: each a /32, the first is the tunnel address; ExternalIPs are no entries", "a",
            [N("a", "192.168.1.10", "10.244.0.0/24"), N("b", "ExternalIP 203.0.113.11", "192.168.1.11", "192.168.2.11", "10.244.1.0/24")],
            [
                "rt 10.244.0.0/24 local via 192.168.1.10",
                "rt 10.244.1.0/24 remote via 192.168.1.11",
                "rt 192.168.1.10/32 local node via 192.168.1.10",
                "rt 192.168.1.11/32 remote node via 192.168.1.11",
                "rt 192.168.2.11/32 remote node via 192.168.1.11",
            ], []),
        new("IPv6 pod CIDRs and InternalIPs are skipped without a word", "a",
            [N("a", "192.168.1.10", "fd00:1::10", "10.244.0.0/24", "fd00:10:244::/64"), N("b", "fd00:1::11", "fd00:10:244:1::/64")],
            [
                "rt 10.244.0.0/24 local via 192.168.1.10",
                "rt 192.168.1.10/32 local node via 192.168.1.10",
            ], []),
        new("a remote node without an IPv4 InternalIP: its pod CIDRs are skipped", "a",
            [N("a", "192.168.1.10", "10.244.0.0/24"), N("b", "ExternalIP 203.0.113.11", "fd00:1::11", "10.244.1.0/24", "10.244.9.0/24")],
            [
                "rt 10.244.0.0/24 local via 192.168.1.10",
                "rt 192.168.1.10/32 local node via 192.168.1.10",
            ],
            ["Conflict: node b: no IPv4 InternalIP to send to: its pod CIDRs 10.244.1.0/24, 10.244.9.0/24 are not routed"]),
        new("this node without an IPv4 InternalIP: its pod CIDRs stay local, without an address", "a",
            [N("a", "10.244.0.0/24"), N("b", "192.168.1.11", "10.244.1.0/24")],
            [
                "rt 10.244.0.0/24 local via -",
                "rt 10.244.1.0/24 remote via 192.168.1.11",
                "rt 192.168.1.11/32 remote node via 192.168.1.11",
            ],
            ["Conflict: node a (this node): no IPv4 InternalIP: other nodes cannot send to it; its pod CIDRs 10.244.0.0/24 are local"]),
        new("this node not among the Nodes: the others are still routed", "z",
            [N("a", "192.168.1.10", "10.244.0.0/24")],
            [
                "rt 10.244.0.0/24 remote via 192.168.1.10",
                "rt 192.168.1.10/32 remote node via 192.168.1.10",
            ],
            ["Conflict: this node z is not among the 1 Nodes: its own pod CIDRs and addresses have no entry (addresses without an entry are treated as local)"]),
        new("the same pod CIDR on two nodes: the first by name keeps it, whichever node this is", "c",
            [N("c", "192.168.1.12", "10.244.0.0/24"), N("a", "192.168.1.10", "10.244.0.0/24")],
            [
                "rt 10.244.0.0/24 remote via 192.168.1.10",
                "rt 192.168.1.10/32 remote node via 192.168.1.10",
                "rt 192.168.1.12/32 local node via 192.168.1.12",
            ],
            ["Conflict: node c: pod CIDR 10.244.0.0/24 is also node a's: kept for a (the first by name)"]),
        new("the same InternalIP on two nodes: the first by name keeps it; the other sends to its next address", "a",
            [N("a", "192.168.1.10", "10.244.0.0/24"), N("b", "192.168.1.10", "192.168.2.11", "10.244.1.0/24")],
            [
                "rt 10.244.0.0/24 local via 192.168.1.10",
                "rt 10.244.1.0/24 remote via 192.168.2.11",
                "rt 192.168.1.10/32 local node via 192.168.1.10",
                "rt 192.168.2.11/32 remote node via 192.168.2.11",
            ],
            ["Conflict: node b: InternalIP 192.168.1.10 is also node a's: kept for a (the first by name)"]),
        new("the same InternalIP on two nodes, and the loser has no other: its pod CIDRs are skipped too", "a",
            [N("a", "192.168.1.10", "10.244.0.0/24"), N("b", "192.168.1.10", "10.244.1.0/24")],
            [
                "rt 10.244.0.0/24 local via 192.168.1.10",
                "rt 192.168.1.10/32 local node via 192.168.1.10",
            ],
            [
                "Conflict: node b: InternalIP 192.168.1.10 is also node a's: kept for a (the first by name)",
                "Conflict: node b: no IPv4 InternalIP to send to: its pod CIDRs 10.244.1.0/24 are not routed",
            ]),
        new("an address that cannot be a node's is skipped", "a",
            [N("a", "192.168.1.10", "10.244.0.0/24"), N("b", "127.0.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "192.168.1.11", "10.244.1.0/24")],
            [
                "rt 10.244.0.0/24 local via 192.168.1.10",
                "rt 10.244.1.0/24 remote via 192.168.1.11",
                "rt 192.168.1.10/32 local node via 192.168.1.10",
                "rt 192.168.1.11/32 remote node via 192.168.1.11",
            ],
            [
                "Conflict: node b: InternalIP 127.0.0.1 cannot be a node's address: skipped",
                "Conflict: node b: InternalIP 0.0.0.0 cannot be a node's address: skipped",
                "Conflict: node b: InternalIP 224.0.0.1 cannot be a node's address: skipped",
                "Conflict: node b: InternalIP 255.255.255.255 cannot be a node's address: skipped",
            ]),
        new("overlapping pod CIDRs of two nodes: both kept, the longer prefix wins", "a",
            [N("a", "192.168.1.10", "10.244.0.0/16"), N("b", "192.168.1.11", "10.244.1.0/24")],
            [
                "rt 10.244.0.0/16 local via 192.168.1.10",
                "rt 10.244.1.0/24 remote via 192.168.1.11",
                "rt 192.168.1.10/32 local node via 192.168.1.10",
                "rt 192.168.1.11/32 remote node via 192.168.1.11",
            ],
            ["Conflict: node b: pod CIDR 10.244.1.0/24 overlaps node a's pod CIDR 10.244.0.0/16: both kept, the addresses of 10.244.1.0/24 go to b (the longer prefix wins)"]),
        new("pod CIDRs of one node inside one another: no conflict", "a",
            [N("a", "192.168.1.10", "10.244.0.0/16", "10.244.1.0/24")],
            [
                "rt 10.244.0.0/16 local via 192.168.1.10",
                "rt 10.244.1.0/24 local via 192.168.1.10",
                "rt 192.168.1.10/32 local node via 192.168.1.10",
            ], []),
        new("an InternalIP inside another node's pod CIDR: the /32 keeps it (and its NODE flag)", "a",
            [N("a", "192.168.1.10", "10.244.0.0/24"), N("b", "10.244.0.200", "10.244.1.0/24")],
            [
                "rt 10.244.0.0/24 local via 192.168.1.10",
                "rt 10.244.0.200/32 remote node via 10.244.0.200",
                "rt 10.244.1.0/24 remote via 10.244.0.200",
                "rt 192.168.1.10/32 local node via 192.168.1.10",
            ],
            ["Conflict: node b: InternalIP 10.244.0.200 is inside node a's pod CIDR 10.244.0.0/24: the address goes to b (the longer prefix wins)"]),
        new("a /32 pod CIDR that is another node's address: the address entry is kept", "a",
            [N("a", "192.168.1.10", "192.168.1.11/32"), N("b", "192.168.1.11")],
            [
                "rt 192.168.1.10/32 local node via 192.168.1.10",
                "rt 192.168.1.11/32 remote node via 192.168.1.11",
            ],
            ["Conflict: node a: pod CIDR 192.168.1.11/32 is node b's address: the address entry is kept"]),
        new("a /32 pod CIDR that is the node's own address, and a CIDR listed twice: said once, no conflict", "a",
            [N("a", "192.168.1.10", "192.168.1.10/32", "10.244.0.0/24", "10.244.0.0/24")],
            [
                "rt 10.244.0.0/24 local via 192.168.1.10",
                "rt 192.168.1.10/32 local node via 192.168.1.10",
            ], []),
    ];

    [TestCaseSource(nameof(Cases))]
    public void Builds(Case @case)
    {
        var routes = RouteBuilder.Build(@case.Nodes, @case.ThisNode);

        Assert.Multiple(() =>
        {
            Assert.That(RouteDump.Lines(routes.Entries), Is.EqualTo(@case.Routes));
            Assert.That(routes.Problems.Select(problem => problem.ToString()), Is.EqualTo(@case.Problems));
            Assert.That(routes.Entries.Keys, Is.EqualTo(routes.Entries.Keys.OrderBy(RouteOrder.Of)), "entries come in prefix order");
            Assert.That(routes.Owners.Keys, Is.EquivalentTo(routes.Entries.Keys));
        });
    }

    [TestCaseSource(nameof(Cases))]
    public void The_order_the_nodes_arrive_in_changes_nothing(Case @case)
    {
        var forward = RouteBuilder.Build(@case.Nodes, @case.ThisNode);
        var reversed = RouteBuilder.Build(@case.Nodes.Reverse(), @case.ThisNode);

        Assert.That(RouteDump.Lines(reversed.Entries), Is.EqualTo(RouteDump.Lines(forward.Entries)));
        Assert.That(reversed.Problems, Is.EqualTo(forward.Problems));
    }

    [TestCaseSource(nameof(Cases))]
    public void Every_node_of_the_cluster_builds_the_same_prefixes_and_addresses(Case @case)
    {
        // Each daemon decides the same way; only which entries are its own (LOCAL vs REMOTE) differs. The one exception: a
        // node without a usable IPv4 InternalIP keeps its pod CIDRs as local entries (without an address) on itself,
        // while the others cannot route them; entries without an address are left out of the comparison.
        static IEnumerable<string> Shape(DesiredRoutes routes) => routes.Entries.Where(entry => entry.Value.NodeAddress is not null).Select(entry =>
            $"{entry.Key} {routes.Owners[entry.Key]} {(entry.Value.Flags & RouteFlags.Node)} {entry.Value.NodeAddress}");
        var withAddress = @case.Nodes.Where(node => node.IPs(NodeAddressType.InternalIP).Any(ip => ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork))
            .Select(node => node.Name).ToList();
        foreach (var (first, second) in withAddress.Zip(withAddress.Skip(1)))
        {
            var one = RouteBuilder.Build(@case.Nodes, first);
            var other = RouteBuilder.Build(@case.Nodes, second);
            Assert.That(Shape(other), Is.EqualTo(Shape(one)), $"{first} and {second} disagree");
            Assert.That(one.Entries.Where(entry => one.Owners[entry.Key] == first).Select(entry => entry.Value.Flags & (RouteFlags.Local | RouteFlags.Remote)),
                Has.All.EqualTo(RouteFlags.Local));
            Assert.That(one.Entries.Where(entry => one.Owners[entry.Key] != first).Select(entry => entry.Value.Flags & (RouteFlags.Local | RouteFlags.Remote)),
                Has.All.EqualTo(RouteFlags.Remote));
        }
    }

    [Test]
    public void Every_remote_entry_names_a_node_address_and_every_node_address_is_a_node_entry()
    {
        var nodes = Enumerable.Range(1, 50)
            .Select(i => N($"node-{i:D2}", $"192.168.{i / 10}.{i}", $"10.{i % 7}.{i}.0/24", $"fd00::{i}"))
            .ToList();
        var routes = RouteBuilder.Build(nodes, "node-07");

        var nodeAddresses = routes.Entries.Where(entry => entry.Value.Flags.HasFlag(RouteFlags.Node)).Select(entry => entry.Key.Network.BaseAddress).ToHashSet();
        Assert.Multiple(() =>
        {
            Assert.That(routes.Problems, Is.Empty);
            Assert.That(routes.Entries, Has.Count.EqualTo(100));
            Assert.That(routes.Entries.Values.Where(value => value.Flags.HasFlag(RouteFlags.Remote)).Select(value => value.NodeAddress),
                Has.All.Matches<IPAddress?>(address => address is not null && nodeAddresses.Contains(address)));
            Assert.That(routes.Entries.Values.Count(value => value.Flags.HasFlag(RouteFlags.Local)), Is.EqualTo(2));
        });
    }
}
