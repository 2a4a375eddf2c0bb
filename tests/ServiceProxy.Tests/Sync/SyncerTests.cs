using System.Net;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Tests.Support;
using static ProxyReplacement.ServiceProxy.Tests.Support.Objects;

namespace ProxyReplacement.ServiceProxy.Tests.Sync;

public sealed class SyncerTests
{
    private static ServiceSnapshot Snapshot(IEnumerable<Service> services, IEnumerable<EndpointSlice> slices) =>
        ServiceSnapshot.Create(services, slices);

    private static readonly NatFrontendKey4 WebFrontend = new(IPAddress.Parse("10.96.0.1"), 80, L4Protocol.Tcp);

    [Test]
    public void A_full_sync_repairs_entries_changed_behind_its_back_and_an_incremental_one_trusts_its_view()
    {
        var maps = new NatMapsUnderTest();
        var syncer = new Syncer(maps.Frontends, maps.Backends);
        var snapshot = Snapshot([Service("web", "10.96.0.1")], [Slice("web-1", "web", "10.244.0.1", "10.244.0.2")]);
        syncer.Sync(snapshot);
        var clean = maps.Dump();

        // Someone else scribbles on the maps.
        maps.Backends.Inner.Update(new NatBackendKey(1, 1), new NatBackendValue4(IPAddress.Parse("6.6.6.6"), 1));
        maps.Frontends.Inner.Update(new NatFrontendKey4(IPAddress.Parse("10.96.9.9"), 1, L4Protocol.Udp), new NatFrontendValue(42, 0));
        maps.ClearLog();

        var incremental = syncer.Sync(snapshot, fullResync: false);
        Assert.That(incremental.Applied, Is.Empty);

        var full = syncer.Sync(snapshot, fullResync: true);
        Assert.Multiple(() =>
        {
            Assert.That(full.Applied.Select(write => write.ToString()), Is.EqualTo(new[]
            {
                "+be svc=1 #1 10.244.0.2:8080",
                "-fe 10.96.9.9:1/udp",
            }));
            Assert.That(maps.Dump(), Is.EqualTo(clean));
            Assert.That(maps.Violations, Is.Empty);
        });
    }

    [Test]
    public void A_backend_the_map_rejects_holds_the_count_back_and_the_next_sync_finishes()
    {
        var maps = new NatMapsUnderTest();
        var syncer = new Syncer(maps.Frontends, maps.Backends);
        syncer.Sync(Snapshot([Service("web", "10.96.0.1")], [Slice("web-1", "web", "10.244.0.1", "10.244.0.2")]));
        var scaledUp = Snapshot([Service("web", "10.96.0.1")], [Slice("web-1", "web", "10.244.0.1", "10.244.0.2", "10.244.0.3", "10.244.0.4")]);

        maps.Backends.FailWrite = key => key == new NatBackendKey(1, 2);
        var failed = syncer.Sync(scaledUp, fullResync: false);

        Assert.That(maps.Violations, Is.Empty);
        Assert.That(maps.Frontends.TryLookup(WebFrontend, out var held) ? held.BackendCount : 99, Is.EqualTo(2u),
            "ordinal 2 is missing, so the count may not cover ordinal 3 either");
        var writeFailure = failed.Problems.Single(problem => problem.Kind == SyncProblemKind.WriteFailed);
        Assert.Multiple(() =>
        {
            Assert.That(writeFailure.Error, Is.InstanceOf<BpfMapFullException>());
            Assert.That(writeFailure.Service, Is.EqualTo(new ServicePortKey("default", "web", "", Protocol.Tcp)));
            Assert.That(writeFailure.ToString(), Does.Contain("default/web"));
            Assert.That(failed.Problems.Any(problem => problem.Kind == SyncProblemKind.Deferred), Is.True);
        });

        maps.Backends.FailWrite = null;
        var retried = syncer.Sync(scaledUp, fullResync: false);

        Assert.Multiple(() =>
        {
            Assert.That(retried.Succeeded, Is.True);
            Assert.That(maps.Frontends.TryLookup(WebFrontend, out var value) ? value.BackendCount : 0, Is.EqualTo(4u));
            Assert.That(maps.Violations, Is.Empty);
        });
    }

    [Test]
    public void A_frontend_update_that_fails_keeps_its_backends_alive()
    {
        var maps = new NatMapsUnderTest();
        var syncer = new Syncer(maps.Frontends, maps.Backends);
        syncer.Sync(Snapshot([Service("web", "10.96.0.1")], [Slice("web-1", "web", "10.244.0.1", "10.244.0.2", "10.244.0.3")]));
        var scaledDown = Snapshot([Service("web", "10.96.0.1")], [Slice("web-1", "web", "10.244.0.1")]);

        maps.Frontends.FailWrite = key => key == WebFrontend;
        var failed = syncer.Sync(scaledDown, fullResync: false);

        Assert.Multiple(() =>
        {
            Assert.That(maps.Violations, Is.Empty);
            Assert.That(maps.Backends.Inner.Count, Is.EqualTo(3), "the old frontend still counts 3 backends");
            Assert.That(failed.Problems.Select(problem => problem.Kind), Is.EquivalentTo(new[]
            {
                SyncProblemKind.WriteFailed, SyncProblemKind.Deferred, SyncProblemKind.Deferred,
            }));
        });

        maps.Frontends.FailWrite = null;
        Assert.That(syncer.Sync(scaledDown, fullResync: false).Succeeded, Is.True);
        Assert.That(maps.Dump(), Is.EqualTo(new[]
        {
            "fe 10.96.0.1:80/tcp svc=1 count=1 flags=0 affinity=0s",
            "be svc=1 #0 10.244.0.1:8080",
        }));
    }

    [Test]
    public void A_full_backend_map_costs_one_service_not_the_others()
    {
        var maps = new NatMapsUnderTest(maxBackends: 3);
        var syncer = new Syncer(maps.Frontends, maps.Backends);

        var result = syncer.Sync(Snapshot(
            [Service("a", "10.96.0.1"), Service("b", "10.96.0.2")],
            [Slice("a-1", "a", "10.244.0.1", "10.244.0.2"), Slice("b-1", "b", "10.244.0.3", "10.244.0.4")]));

        Assert.Multiple(() =>
        {
            Assert.That(maps.Violations, Is.Empty);
            Assert.That(maps.Dump(), Is.EqualTo(new[]
            {
                "fe 10.96.0.1:80/tcp svc=1 count=2 flags=0 affinity=0s",
                "fe 10.96.0.2:80/tcp svc=2 count=1 flags=0 affinity=0s",
                "be svc=1 #0 10.244.0.1:8080",
                "be svc=1 #1 10.244.0.2:8080",
                "be svc=2 #0 10.244.0.3:8080",
            }));
            Assert.That(result.Problems.Where(problem => problem.Kind == SyncProblemKind.WriteFailed).Select(problem => problem.Service?.Name),
                Is.EqualTo(new[] { "b" }));
        });
    }

    [Test]
    public void Two_services_on_one_frontend_are_reported_and_the_first_keeps_it()
    {
        var maps = new NatMapsUnderTest();
        var syncer = new Syncer(maps.Frontends, maps.Backends);

        var result = syncer.Sync(Snapshot([Service("a", "10.96.0.1"), Service("b", "10.96.0.1")], [Slice("a-1", "a", "10.244.0.1")]));

        Assert.That(result.Problems.Single().Kind, Is.EqualTo(SyncProblemKind.Conflict));
        Assert.That(result.Problems.Single().Reason, Does.Contain("default/a").And.Contain("default/b"));
        Assert.That(maps.Frontends.TryLookup(WebFrontend, out var value) ? value.ServiceId : 0, Is.EqualTo(1u));
    }

    [Test]
    public void After_a_restart_a_new_service_never_takes_the_id_of_a_deleted_one_still_in_the_maps()
    {
        var maps = new NatMapsUnderTest();
        new Syncer(maps.Frontends, maps.Backends).Sync(Snapshot(
            [Service("a", "10.96.0.1"), Service("b", "10.96.0.2")],
            [Slice("a-1", "a", "10.244.0.1"), Slice("b-1", "b", "10.244.0.2", "10.244.0.3")]));

        // Restart: b was deleted meanwhile and c is new.
        var restarted = new Syncer(maps.Frontends, maps.Backends);
        maps.ClearLog();
        var result = restarted.Sync(Snapshot(
            [Service("a", "10.96.0.1"), Service("c", "10.96.0.3")],
            [Slice("a-1", "a", "10.244.0.1"), Slice("c-1", "c", "10.244.0.4")]));

        Assert.Multiple(() =>
        {
            Assert.That(result.Succeeded, Is.True);
            Assert.That(maps.Violations, Is.Empty);
            Assert.That(restarted.Ids.Assignments[new ServicePortKey("default", "a", "", Protocol.Tcp)], Is.EqualTo(1u));
            Assert.That(maps.Dump(), Is.EqualTo(new[]
            {
                "fe 10.96.0.1:80/tcp svc=1 count=1 flags=0 affinity=0s",
                "fe 10.96.0.3:80/tcp svc=3 count=1 flags=0 affinity=0s",
                "be svc=1 #0 10.244.0.1:8080",
                "be svc=3 #0 10.244.0.4:8080",
            }));
            Assert.That(maps.WriteLog.Where(write => write.Contains("svc=2 #0 10.244.0.4")), Is.Empty,
                "c's backends must not be written under b's old id while b's frontend still points there");
        });
    }
}
