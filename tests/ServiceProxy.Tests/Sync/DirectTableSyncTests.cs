using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Tests.Support;
using ProxyReplacement.ServiceProxy.Tracking;
using static ProxyReplacement.ServiceProxy.Tests.Support.Objects;

namespace ProxyReplacement.ServiceProxy.Tests.Sync;

/// <summary>
/// The Syncer keeping <c>pr_nat_direct4</c> (<see cref="DirectTable"/>): the slots it writes, where its writes fall among
/// the NAT writes (emptied slots first, new copies between make and break), failures and drift. The maps have 4 slots,
/// so 10.96.0.1 and 10.96.0.5 share slot 1.
/// </summary>
public sealed class DirectTableSyncTests
{
    private static NatFrontendKey4 Fe(string vip, ushort port = 80) => new(IPAddress.Parse(vip), port, L4Protocol.Tcp);

    private static NatBackendValue4 Be(string address) => new(IPAddress.Parse(address), 8080);

    private static (NatMapsUnderTest Maps, Syncer Syncer, ChangeTracker Tracker) Programmed(IEnumerable<Service> services, IEnumerable<EndpointSlice> slices)
    {
        var maps = new NatMapsUnderTest(directSlots: 4);
        var syncer = maps.NewSyncer();
        var tracker = new ChangeTracker();
        tracker.ReplaceAll(services, slices);
        Assert.That(syncer.Sync(tracker.Commit(), fullResync: true).Problems, Is.Empty);
        maps.ClearLog();
        return (maps, syncer, tracker);
    }

    [Test]
    public void A_ClusterIP_Service_gets_its_slot_written_after_its_backends_and_frontend()
    {
        var maps = new NatMapsUnderTest(directSlots: 4);
        var syncer = maps.NewSyncer();

        syncer.Sync(ServiceSnapshot.Create([Service("web", "10.96.0.1")], [Slice("web-1", "web", "10.244.0.1", "10.244.0.2")]));

        Assert.Multiple(() =>
        {
            Assert.That(maps.WriteLog, Has.Count.EqualTo(3), "two backends and the frontend");
            Assert.That(maps.DirectLog.Select(w => (w.NatWritesBefore, w.Slot)), Is.EqualTo(new[] { (3, 1u) }));
            Assert.That(maps.DirectSlotsHeld(), Is.EqualTo(new Dictionary<uint, NatDirectEntry4>
            {
                [1] = new(Fe("10.96.0.1"), 1, [Be("10.244.0.1"), Be("10.244.0.2")]),
            }));
            Assert.That(syncer.Direct!.Used, Is.EqualTo(1));
        });
    }

    [Test]
    public void A_table_this_load_created_is_not_read_by_the_first_sync_but_by_every_full_resync_after_it()
    {
        // a slot holding something the model does not want: what only an adopted (pinned) table could hold
        var maps = new NatMapsUnderTest(directSlots: 4);
        var stray = new NatDirectEntry4(Fe("10.96.0.2"), 9, [Be("10.244.9.9")]);
        maps.Direct.Inner.Update(2, stray);
        var syncer = maps.NewSyncer(directStartsEmpty: true);
        var tracker = new ChangeTracker();
        tracker.ReplaceAll([Service("web", "10.96.0.1")], [Slice("web-1", "web", "10.244.0.1")]);

        syncer.Sync(tracker.Commit(), fullResync: true);
        var afterFirst = maps.DirectSlotsHeld();
        syncer.Sync(tracker.Commit(), fullResync: true);
        var afterSecond = maps.DirectSlotsHeld();

        Assert.Multiple(() =>
        {
            Assert.That(afterFirst.GetValueOrDefault(2u), Is.EqualTo(stray), "the first sync took the table for empty, as this load made it");
            Assert.That(afterFirst.ContainsKey(1u), Is.True, "and wrote the slot it wants");
            Assert.That(afterSecond.ContainsKey(2u), Is.False, "the next full resync reads the table and empties what nobody wants");
            Assert.That(afterSecond.ContainsKey(1u), Is.True);
        });
    }

    [Test]
    public void When_a_backend_goes_the_slot_gets_the_smaller_set_before_the_backend_is_deleted()
    {
        var (maps, syncer, tracker) = Programmed([Service("web", "10.96.0.1")], [Slice("web-1", "web", "10.244.0.1", "10.244.0.2")]);

        tracker.UpsertEndpointSlice(Slice("web-1", "web", "10.244.0.1"));
        syncer.Sync(tracker.Commit(), fullResync: false);

        Assert.Multiple(() =>
        {
            Assert.That(syncer.LastPath.Incremental, Is.True);
            Assert.That(maps.WriteLog, Is.EqualTo(new[] { "+fe 10.96.0.1:80/tcp svc=1 count=1 flags=0 affinity=0s", "-be svc=1 #1" }));
            Assert.That(maps.DirectLog.Select(w => (w.NatWritesBefore, w.ToString())),
                Is.EqualTo(new[] { (1, $"+slot 1 {new NatDirectEntry4(Fe("10.96.0.1"), 1, [Be("10.244.0.1")])}") }),
                "after the frontend's new count, before the backend's delete");
            Assert.That(maps.DirectSlotsHeld()[1].GetBackends(), Is.EqualTo(new[] { Be("10.244.0.1") }));
        });
    }

    [Test]
    public void A_Service_that_turns_on_affinity_leaves_its_slot_before_any_NAT_write()
    {
        var (maps, syncer, tracker) = Programmed([Service("web", "10.96.0.1")], [Slice("web-1", "web", "10.244.0.1")]);

        tracker.UpsertService(Service("web", "10.96.0.1", affinity: SessionAffinity.ClientIP));
        syncer.Sync(tracker.Commit(), fullResync: false);

        Assert.Multiple(() =>
        {
            Assert.That(maps.WriteLog, Has.Count.EqualTo(1), "the frontend's new flags");
            Assert.That(maps.DirectLog.Select(w => (w.NatWritesBefore, w.ToString())), Is.EqualTo(new[] { (0, "-slot 1") }));
            Assert.That(maps.DirectSlotsHeld(), Is.Empty);
        });
    }

    [Test]
    public void When_a_slots_holder_is_deleted_the_slot_is_emptied_first_and_the_next_frontend_on_it_takes_it_before_the_deletes()
    {
        var (maps, syncer, tracker) = Programmed([Service("a", "10.96.0.1"), Service("b", "10.96.0.5")],
            [Slice("a-1", "a", "10.244.0.1"), Slice("b-1", "b", "10.244.0.5")]);
        Assert.That(maps.DirectSlotsHeld()[1].Frontend, Is.EqualTo(Fe("10.96.0.1")), "the lower address holds the shared slot");

        tracker.DeleteService(new ObjectKey("default", "a"));
        syncer.Sync(tracker.Commit(), fullResync: false);

        Assert.Multiple(() =>
        {
            Assert.That(syncer.LastPath.Incremental, Is.True);
            Assert.That(maps.WriteLog, Is.EqualTo(new[] { "-fe 10.96.0.1:80/tcp", "-be svc=1 #0" }));
            Assert.That(maps.DirectLog.Select(w => (w.NatWritesBefore, w.Empties)), Is.EqualTo(new[] { (0, true), (0, false) }));
            Assert.That(maps.DirectSlotsHeld()[1], Is.EqualTo(new NatDirectEntry4(Fe("10.96.0.5"), 2, [Be("10.244.0.5")])));
        });
    }

    [Test]
    public void When_a_multi_port_Service_loses_the_port_holding_its_slot_another_of_its_ports_takes_it()
    {
        var twoPorts = Service("web", "10.96.0.2") with
        {
            Ports = EquatableList.From(new ServicePort("http", Protocol.Tcp, 80, TargetPort.FromNumber(8080)),
                new ServicePort("https", Protocol.Tcp, 443, TargetPort.FromNumber(8080))),
        };
        var (maps, syncer, tracker) = Programmed([twoPorts], [Slice("web-1", "web", "10.244.0.1")]);
        Assert.That(maps.DirectSlotsHeld()[2].Frontend, Is.EqualTo(Fe("10.96.0.2", 80)));

        tracker.UpsertService(twoPorts with { Ports = EquatableList.From(twoPorts.Ports[1]) });
        syncer.Sync(tracker.Commit(), fullResync: false);

        Assert.Multiple(() =>
        {
            Assert.That(syncer.LastPath.Incremental, Is.True);
            Assert.That(maps.DirectSlotsHeld()[2].Frontend, Is.EqualTo(Fe("10.96.0.2", 443)));
            Assert.That(DirectSlotsModel.OrderViolations(maps), Is.Empty);
        });
    }

    [Test]
    public void A_failed_slot_write_is_a_problem_and_the_next_sync_rebuilds_and_writes_it()
    {
        var maps = new NatMapsUnderTest(directSlots: 4);
        var syncer = maps.NewSyncer();
        var tracker = new ChangeTracker();
        tracker.ReplaceAll([Service("web", "10.96.0.1")], [Slice("web-1", "web", "10.244.0.1")]);
        maps.Direct.FailWrite = _ => true;

        var failed = syncer.Sync(tracker.Commit(), fullResync: true);

        Assert.That(failed.Problems.Select(p => (p.Kind, p.Reason.StartsWith("pr_nat_direct4: writing", StringComparison.Ordinal))),
            Is.EqualTo(new[] { (SyncProblemKind.WriteFailed, true) }));
        Assert.That(maps.DirectSlotsHeld(), Is.Empty);
        Assert.That(syncer.StartDriftCheck(), Is.Null, "unclean");

        maps.Direct.FailWrite = null;
        var repaired = syncer.Sync(tracker.Commit(), fullResync: false);

        Assert.Multiple(() =>
        {
            Assert.That(repaired.Problems, Is.Empty);
            Assert.That(syncer.LastPath.Reason, Is.EqualTo(RebuildReason.AfterProblems));
            Assert.That(maps.DirectSlotsHeld().Keys, Is.EqualTo(new[] { 1u }));
        });
    }

    [Test]
    public void A_slot_whose_new_copy_cannot_be_written_is_emptied_before_the_backend_it_still_holds_is_deleted()
    {
        var (maps, syncer, tracker) = Programmed([Service("web", "10.96.0.1")], [Slice("web-1", "web", "10.244.0.1", "10.244.0.2")]);
        var refusals = 0;
        maps.Direct.FailWrite = slot => slot == 1 && refusals++ == 0; // the new copy only

        tracker.UpsertEndpointSlice(Slice("web-1", "web", "10.244.0.1"));
        var result = syncer.Sync(tracker.Commit(), fullResync: false);

        Assert.Multiple(() =>
        {
            Assert.That(result.Problems.Select(p => p.Kind), Is.EqualTo(new[] { SyncProblemKind.WriteFailed }));
            Assert.That(maps.DirectLog.Select(w => (w.NatWritesBefore, w.ToString())), Is.EqualTo(new[] { (1, "-slot 1") }),
                "emptied where the copy should have gone: before '-be svc=1 #1'");
            Assert.That(maps.WriteLog[1], Is.EqualTo("-be svc=1 #1"));
            Assert.That(maps.DirectSlotsHeld(), Is.Empty);
        });
        maps.Direct.FailWrite = null;
        syncer.Sync(tracker.Commit(), fullResync: false);
        Assert.That(maps.DirectSlotsHeld()[1].GetBackends(), Is.EqualTo(new[] { Be("10.244.0.1") }), "the next sync writes it");
    }

    [Test]
    public void Many_slots_go_in_batches_and_a_slot_the_map_refuses_is_the_one_problem()
    {
        var maps = new NatMapsUnderTest(directSlots: 64);
        var syncer = maps.NewSyncer();
        var services = Enumerable.Range(1, 40).Select(i => Service($"s{i}", $"10.96.0.{i}")).ToList();
        var slices = Enumerable.Range(1, 40).Select(i => Slice($"s{i}-1", $"s{i}", $"10.244.0.{i}")).ToList();
        maps.Direct.FailWrite = slot => slot == 17;

        var result = syncer.Sync(ServiceSnapshot.Create(services, slices));

        Assert.Multiple(() =>
        {
            Assert.That(result.Problems.Select(p => p.Reason).ToList(), Has.Count.EqualTo(1).And.All.StartsWith("pr_nat_direct4: writing 10.96.0.17:80/tcp"));
            Assert.That(maps.DirectSlotsHeld().Keys, Is.EquivalentTo(Enumerable.Range(1, 40).Where(i => i != 17).Select(i => (uint)i)));
            Assert.That(syncer.Direct!.Used, Is.EqualTo(39), "the view holds what reached the map");
            Assert.That(DirectSlotsModel.OrderViolations(maps), Is.Empty);
        });
    }

    [Test]
    public void Slots_changed_behind_the_syncers_back_are_drift_that_a_full_resync_repairs()
    {
        var (maps, syncer, tracker) = Programmed([Service("web", "10.96.0.1")], [Slice("web-1", "web", "10.244.0.1")]);
        var held = maps.DirectSlotsHeld();
        maps.Direct.Inner.Update(1, new NatDirectEntry4(Fe("10.96.0.1"), 1, [Be("10.244.9.9")])); // another backend
        maps.Direct.Inner.Update(2, new NatDirectEntry4(Fe("10.96.0.2"), 9, [Be("10.244.9.9")])); // a stray

        var report = syncer.StartDriftCheck()!.Run();
        Assert.That((report.Drifted, report.DirectDifferences, report.NatDifferences), Is.EqualTo((true, 2, 0)));

        syncer.Sync(tracker.Commit(), fullResync: false);
        Assert.That(maps.DirectLog, Is.Empty, "an incremental sync trusts its view");

        syncer.Sync(tracker.Commit(), fullResync: true);
        Assert.Multiple(() =>
        {
            Assert.That(maps.DirectSlotsHeld(), Is.EqualTo(held));
            Assert.That(maps.DirectLog.Select(w => w.ToString()), Is.EqualTo(new[] { "-slot 2", $"+slot 1 {held[1]}" }),
                "the stray emptied first; the slot that holds its frontend with other backends rewritten (not emptied)");
            Assert.That(syncer.StartDriftCheck()!.Run().Drifted, Is.False);
        });
    }

    [Test]
    public void Without_a_table_the_syncer_writes_no_slot()
    {
        var maps = new NatMapsUnderTest(directSlots: 4);
        var syncer = new Syncer(maps.Frontends, maps.Backends);

        syncer.Sync(ServiceSnapshot.Create([Service("web", "10.96.0.1")], [Slice("web-1", "web", "10.244.0.1")]));

        Assert.That((syncer.Direct, maps.DirectLog.Count, maps.WriteLog.Count), Is.EqualTo(((DirectTable?)null, 0, 2)));
    }
}
