using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Routing;
using ProxyReplacement.ServiceProxy.Sources;
using ProxyReplacement.ServiceProxy.Tests.Support;

namespace ProxyReplacement.ServiceProxy.Tests.Routing;

/// <summary>The routing module's place in the sync loop: when a pass rebuilds, retries, and what it counts.</summary>
public sealed class RoutingModuleTests
{
    private sealed class FakeNodes : INodeSource
    {
        private IReadOnlyDictionary<string, Node> _nodes = new Dictionary<string, Node>();

        public string NodeName => "a";
        public Node? ThisNode => _nodes.GetValueOrDefault(NodeName);
        public Func<IReadOnlyDictionary<string, Node>>? Throwing { get; set; }

        public IReadOnlyDictionary<string, Node> Nodes => Throwing?.Invoke() ?? _nodes;

        public event Action? NodesChanged;

        public void Set(params Node[] nodes)
        {
            _nodes = nodes.ToDictionary(node => node.Name);
            NodesChanged?.Invoke();
        }
    }

    private static Node N(string name, string address, string cidr) =>
        new(name, new[] { new NodeAddress(NodeAddressType.InternalIP, address, IPAddress.Parse(address)) }.ToEquatableList(), null,
            new[] { IPNetwork.Parse(cidr) }.ToEquatableList());

    private FakeNodes _nodes = null!;
    private ObservedMap<RouteKey4, RouteValue> _map = null!;
    private RoutingMetrics _metrics = null!;
    private int _queued;
    private RoutingModule _module = null!;

    [SetUp]
    public void SetUp()
    {
        _nodes = new FakeNodes();
        _nodes.Set(N("a", "192.168.1.10", "10.244.0.0/24"), N("b", "192.168.1.11", "10.244.1.0/24"));
        _map = new ObservedMap<RouteKey4, RouteValue>(new InMemoryBpfMap<RouteKey4, RouteValue>("pr_routes4", 16));
        _metrics = new RoutingMetrics();
        _queued = 0;
        _module = new RoutingModule(_map, _nodes, _metrics, NullLogger<RoutingModule>.Instance, nodesChanged: () => _queued++);
    }

    [Test]
    public void The_first_pass_builds_then_a_pass_without_a_node_change_costs_nothing()
    {
        var first = _module.Sync(full: false);
        var idle = _module.Sync(full: false);

        Assert.Multiple(() =>
        {
            Assert.That(first?.Written.Writes, Is.EqualTo(4));
            Assert.That(idle, Is.Null);
            Assert.That(_metrics.Writes.Value, Is.EqualTo(4));
            Assert.That(_metrics.Entries, Is.EqualTo(new long[] { 1, 1, 1, 1 }), "pod CIDR local, remote; node address local, remote");
        });
    }

    [Test]
    public void A_node_change_queues_a_pass_that_rebuilds()
    {
        _module.Sync(full: false);

        _nodes.Set(N("a", "192.168.1.10", "10.244.0.0/24"), N("b", "192.168.1.11", "10.244.1.0/24"), N("c", "192.168.1.12", "10.244.2.0/24"));
        var rebuilt = _module.Sync(full: false);

        Assert.Multiple(() =>
        {
            Assert.That(_queued, Is.EqualTo(1));
            Assert.That(rebuilt?.Written.Writes, Is.EqualTo(2));
            Assert.That(_metrics.Entries, Is.EqualTo(new long[] { 1, 2, 1, 2 }));
        });
    }

    [Test]
    public void A_full_resync_rebuilds_and_repairs_drift()
    {
        _module.Sync(full: false);
        _map.Inner.Delete(new RouteKey4(IPNetwork.Parse("10.244.1.0/24")));

        var full = _module.Sync(full: true);

        Assert.That(full?.Written.Writes, Is.EqualTo(1));
        Assert.That(_map.Inner.Count, Is.EqualTo(4));
    }

    [Test]
    public void A_failed_write_is_counted_and_the_next_pass_retries_it_without_a_node_change()
    {
        _map.FailWrite = key => key.PrefixLength == 24;
        var failed = _module.Sync(full: false);
        _map.FailWrite = null;
        var retried = _module.Sync(full: false);
        var idle = _module.Sync(full: false);

        Assert.Multiple(() =>
        {
            Assert.That(failed?.Written.Problems, Has.Count.EqualTo(2));
            Assert.That(_metrics.WriteErrors.Value, Is.EqualTo(2));
            Assert.That(retried?.Written.Writes, Is.EqualTo(2));
            Assert.That(idle, Is.Null);
            Assert.That(_map.Inner.Count, Is.EqualTo(4));
        });
    }

    [Test]
    public void Conflicts_in_the_nodes_are_counted_and_the_rest_is_written()
    {
        _nodes.Set(N("a", "192.168.1.10", "10.244.0.0/24"), N("b", "192.168.1.11", "10.244.0.0/24"));

        var result = _module.Sync(full: false);

        Assert.Multiple(() =>
        {
            Assert.That(result?.Desired.Problems.Single().Reason, Does.Contain("kept for a"));
            Assert.That(_metrics.Conflicts.Value, Is.EqualTo(1));
            Assert.That(_map.Inner.Count, Is.EqualTo(3));
        });
    }

    [Test]
    public void Whatever_goes_wrong_in_a_pass_stays_in_the_module_and_is_retried()
    {
        _nodes.Throwing = () => throw new InvalidOperationException("a bug");

        Assert.That(_module.Sync(full: false), Is.Null);
        Assert.That(_metrics.WriteErrors.Value, Is.EqualTo(1));

        _nodes.Throwing = null;
        Assert.That(_module.Sync(full: false)?.Written.Writes, Is.EqualTo(4), "retried by the next pass");
    }
}
