using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Conntrack;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Tests.Support;
using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.ServiceProxy.Tests.Conntrack;

/// <summary>Removed backends between two snapshots, and the purge of their flows' conntrack entries.</summary>
public sealed class RemovedBackendsTests
{
    private static Service Dns(Protocol protocol = Protocol.Udp) =>
        new("default", "dns", Labels.Empty, ServiceType.ClusterIP, EquatableList.From(IPAddress.Parse("10.96.0.53")),
            EquatableList.From(new ServicePort("", protocol, 53, TargetPort.FromNumber(5353))), SessionAffinity.None);

    private static EndpointSlice Slice(Protocol protocol, params string[] ready) =>
        new("default", "dns-1", "dns", AddressType.IPv4,
            ready.Select(a => new SliceEndpoint(EquatableList.From(IPAddress.Parse(a)), new EndpointConditions())).ToEquatableList(),
            EquatableList.From(new EndpointPort("", protocol, 5353)));

    private static FlowTarget Target(string backend, L4Protocol protocol = L4Protocol.Udp) =>
        new(new NatFrontendKey4(IPAddress.Parse("10.96.0.53"), 53, protocol), new NatBackendValue4(IPAddress.Parse(backend), 5353));

    [Test]
    public void A_backend_scaled_away_from_a_udp_service_is_removed()
    {
        var before = ServiceSnapshot.Create([Dns()], [Slice(Protocol.Udp, "10.244.2.7", "10.244.2.8")]);
        var after = ServiceSnapshot.Create([Dns()], [Slice(Protocol.Udp, "10.244.2.8", "10.244.2.9")]);
        Assert.That(RemovedBackends.Between(before, after), Is.EquivalentTo(new[] { Target("10.244.2.7") }));
    }

    [Test]
    public void A_deleted_udp_service_removes_every_backend()
    {
        var before = ServiceSnapshot.Create([Dns()], [Slice(Protocol.Udp, "10.244.2.7", "10.244.2.8")]);
        Assert.That(RemovedBackends.Between(before, ServiceSnapshot.Empty), Is.EquivalentTo(new[] { Target("10.244.2.7"), Target("10.244.2.8") }));
    }

    [Test]
    public void A_backend_that_is_no_longer_ready_is_removed()
    {
        var before = ServiceSnapshot.Create([Dns()], [Slice(Protocol.Udp, "10.244.2.7")]);
        var notReady = new EndpointSlice("default", "dns-1", "dns", AddressType.IPv4,
            EquatableList.From(new SliceEndpoint(EquatableList.From(IPAddress.Parse("10.244.2.7")), new EndpointConditions(Ready: false))),
            EquatableList.From(new EndpointPort("", Protocol.Udp, 5353)));
        Assert.That(RemovedBackends.Between(before, ServiceSnapshot.Create([Dns()], [notReady])), Is.EquivalentTo(new[] { Target("10.244.2.7") }));
    }

    [Test]
    public void Tcp_backends_are_left_to_fail_on_their_own_unless_asked_for()
    {
        var before = ServiceSnapshot.Create([Dns(Protocol.Tcp)], [Slice(Protocol.Tcp, "10.244.2.7")]);
        var after = ServiceSnapshot.Create([Dns(Protocol.Tcp)], [Slice(Protocol.Tcp)]);
        Assert.Multiple(() =>
        {
            Assert.That(RemovedBackends.Between(before, after), Is.Empty);
            Assert.That(RemovedBackends.Between(before, after, protocols: new HashSet<L4Protocol> { L4Protocol.Tcp }),
                Is.EquivalentTo(new[] { Target("10.244.2.7", L4Protocol.Tcp) }));
        });
    }

    [Test]
    public void Unchanged_and_new_services_remove_nothing()
    {
        var snapshot = ServiceSnapshot.Create([Dns()], [Slice(Protocol.Udp, "10.244.2.7")]);
        Assert.Multiple(() =>
        {
            Assert.That(RemovedBackends.Between(snapshot, snapshot), Is.Empty);
            Assert.That(RemovedBackends.Between(ServiceSnapshot.Empty, snapshot), Is.Empty);
        });
    }

    [Test]
    public void Only_the_changed_services_of_a_commit_are_compared()
    {
        var before = ServiceSnapshot.Create([Dns()], [Slice(Protocol.Udp, "10.244.2.7")]);
        var after = ServiceSnapshot.Create([Dns()], [Slice(Protocol.Udp)]);
        Assert.That(RemovedBackends.Between(before, after, new HashSet<ObjectKey>()), Is.Empty);
    }

    private static EndpointSlice SliceOf(Protocol protocol, params (string Address, EndpointConditions Conditions)[] endpoints) =>
        new("default", "dns-1", "dns", AddressType.IPv4,
            endpoints.Select(e => new SliceEndpoint(EquatableList.From(IPAddress.Parse(e.Address)), e.Conditions)).ToEquatableList(),
            EquatableList.From(new EndpointPort("", protocol, 5353)));

    private static readonly EndpointConditions Ready = new();
    private static readonly EndpointConditions ServingTerminating = new(Ready: false, Serving: true, Terminating: true);
    private static readonly EndpointConditions NotServingTerminating = new(Ready: false, Serving: false, Terminating: true);

    [Test]
    public void Gone_endpoints_are_those_deleted_or_no_longer_serving_for_tcp_and_udp()
    {
        foreach (var (protocol, l4) in new[] { (Protocol.Tcp, L4Protocol.Tcp), (Protocol.Udp, L4Protocol.Udp) })
        {
            var before = ServiceSnapshot.Create([Dns(protocol)], [Slice(protocol, "10.244.2.7", "10.244.2.8", "10.244.2.9")]);
            var after = ServiceSnapshot.Create([Dns(protocol)],
                [SliceOf(protocol, ("10.244.2.8", Ready), ("10.244.2.9", new EndpointConditions(Ready: false)))]);
            Assert.That(RemovedBackends.Gone(before, after), Is.EquivalentTo(new[] { Target("10.244.2.7", l4), Target("10.244.2.9", l4) }),
                $"{protocol}: .7 deleted, .9 not ready (and not terminating)");
        }
    }

    [Test]
    public void A_terminating_endpoint_that_still_serves_is_not_gone_until_it_is_deleted_or_stops_serving()
    {
        var ready = ServiceSnapshot.Create([Dns(Protocol.Tcp)], [Slice(Protocol.Tcp, "10.244.2.7", "10.244.2.8")]);
        var terminating = ServiceSnapshot.Create([Dns(Protocol.Tcp)], [SliceOf(Protocol.Tcp, ("10.244.2.7", ServingTerminating), ("10.244.2.8", Ready))]);
        var stopped = ServiceSnapshot.Create([Dns(Protocol.Tcp)], [SliceOf(Protocol.Tcp, ("10.244.2.7", NotServingTerminating), ("10.244.2.8", Ready))]);
        var deleted = ServiceSnapshot.Create([Dns(Protocol.Tcp)], [Slice(Protocol.Tcp, "10.244.2.8")]);

        Assert.Multiple(() =>
        {
            Assert.That(RemovedBackends.Between(ready, terminating, protocols: RemovedBackends.SocketProtocols),
                Is.EquivalentTo(new[] { Target("10.244.2.7", L4Protocol.Tcp) }), "new flows are no longer balanced to it (conntrack's rule) ...");
            Assert.That(RemovedBackends.Gone(ready, terminating), Is.Empty, "... but its connections drain: not gone");
            Assert.That(RemovedBackends.Gone(terminating, deleted), Is.EquivalentTo(new[] { Target("10.244.2.7", L4Protocol.Tcp) }),
                "deleted after terminating: gone (though the dataplane had stopped balancing to it)");
            Assert.That(RemovedBackends.Gone(terminating, stopped), Is.EquivalentTo(new[] { Target("10.244.2.7", L4Protocol.Tcp) }),
                "no longer serving: gone");
        });
    }

    [Test]
    public void A_deleted_service_or_port_makes_every_endpoint_gone_and_a_new_one_nothing()
    {
        var before = ServiceSnapshot.Create([Dns(Protocol.Tcp)], [Slice(Protocol.Tcp, "10.244.2.7", "10.244.2.8")]);
        Assert.Multiple(() =>
        {
            Assert.That(RemovedBackends.Gone(before, ServiceSnapshot.Empty),
                Is.EquivalentTo(new[] { Target("10.244.2.7", L4Protocol.Tcp), Target("10.244.2.8", L4Protocol.Tcp) }));
            Assert.That(RemovedBackends.Gone(ServiceSnapshot.Empty, before), Is.Empty);
            Assert.That(RemovedBackends.Gone(before, before), Is.Empty);
        });
    }

    [Test]
    public void The_socket_terminator_gets_the_gone_tcp_endpoints_too_while_conntrack_purges_udp_only()
    {
        var conntrack = new InMemoryBpfMap<ConntrackKey4, ConntrackValue4>("pr_ct4", 1024);
        var tracker = new ChangeTracker();
        tracker.UpsertService(Dns(Protocol.Tcp));
        tracker.UpsertEndpointSlice(Slice(Protocol.Tcp, "10.244.2.7", "10.244.2.8"));
        tracker.Commit();
        tracker.UpsertEndpointSlice(Slice(Protocol.Tcp, "10.244.2.8"));
        var metrics = new ConntrackMetrics();
        var calls = new List<FlowTarget[]>();
        var purger = new BackendFlowPurger(conntrack, metrics, NullLogger.Instance) { SocketTerminator = targets => calls.Add(targets.ToArray()) };

        purger.AfterSync(tracker.Commit());
        tracker.UpsertEndpointSlice(Slice(Protocol.Tcp, "10.244.2.8"));
        purger.AfterSync(tracker.Commit());

        Assert.Multiple(() =>
        {
            Assert.That(calls, Has.Count.EqualTo(1), "called once, not for a commit that removed nothing");
            Assert.That(calls[0], Is.EqualTo(new[] { Target("10.244.2.7", L4Protocol.Tcp) }));
            Assert.That(metrics.BackendPurges.Value, Is.Zero, "no UDP backend removed: no conntrack purge");
        });
    }

    [Test]
    public void The_purge_deletes_both_entries_of_the_removed_backends_flows_only()
    {
        var conntrack = new InMemoryBpfMap<ConntrackKey4, ConntrackValue4>("pr_ct4", 1024);
        var gone = ConntrackSweepTests.Flow(40000, 1, backend: "10.244.2.7");
        var stays = ConntrackSweepTests.Flow(40001, 1, backend: "10.244.2.8");
        var tcpToGone = ConntrackSweepTests.Flow(40002, 1, L4Protocol.Tcp, ConntrackTcpState.Established, backend: "10.244.2.7");
        foreach (var entry in new[] { gone.Forward, gone.Reverse, stays.Forward, stays.Reverse, tcpToGone.Forward, tcpToGone.Reverse })
            conntrack.Update(entry.Key, entry.Value);
        var tracker = new ChangeTracker();
        tracker.UpsertService(Dns());
        tracker.UpsertEndpointSlice(Slice(Protocol.Udp, "10.244.2.7", "10.244.2.8"));
        tracker.Commit();
        tracker.UpsertEndpointSlice(Slice(Protocol.Udp, "10.244.2.8"));
        var metrics = new ConntrackMetrics();
        var purger = new BackendFlowPurger(conntrack, metrics, NullLogger.Instance);
        FlowTarget[]? terminated = null;
        purger = new BackendFlowPurger(conntrack, metrics, NullLogger.Instance) { SocketTerminator = targets => terminated = targets.ToArray() };

        var deleted = purger.AfterSync(tracker.Commit());

        Assert.Multiple(() =>
        {
            Assert.That(deleted, Is.EqualTo(2));
            Assert.That(conntrack.ReadAll().Select(e => e.Key), Is.EquivalentTo(new[] { stays.Forward.Key, stays.Reverse.Key, tcpToGone.Forward.Key, tcpToGone.Reverse.Key }));
            Assert.That(metrics.BackendPurgedEntries.Value, Is.EqualTo(2));
            Assert.That(terminated, Is.EqualTo(new[] { Target("10.244.2.7") }), "the socket terminator gets the gone endpoint's pair");
        });
    }
}
