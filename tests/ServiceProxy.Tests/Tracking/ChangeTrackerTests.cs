using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Tracking;
using static ProxyReplacement.ServiceProxy.Tests.Support.Objects;

namespace ProxyReplacement.ServiceProxy.Tests.Tracking;

public sealed class ChangeTrackerTests
{
    [Test]
    public void An_update_equal_to_the_current_state_is_dropped()
    {
        var tracker = new ChangeTracker();
        tracker.UpsertService(Service("web", "10.96.0.1"));
        tracker.Commit();

        // A structurally equal but separately built object: value equality must see through the lists.
        var accepted = tracker.UpsertService(Service("web", "10.96.0.1"));

        Assert.Multiple(() =>
        {
            Assert.That(accepted, Is.False);
            Assert.That(tracker.HasPendingChanges, Is.False);
            Assert.That(tracker.Commit().HasChanges, Is.False);
        });
    }

    [Test]
    public void Changes_that_return_to_the_committed_state_leave_nothing_pending()
    {
        var tracker = new ChangeTracker();
        tracker.UpsertService(Service("web", "10.96.0.1"));
        tracker.Commit();

        tracker.UpsertService(Service("web", "10.96.0.1", port: 81));
        Assert.That(tracker.HasPendingChanges, Is.True);
        tracker.UpsertService(Service("web", "10.96.0.1"));

        Assert.That(tracker.HasPendingChanges, Is.False);
    }

    [Test]
    public void A_pending_change_keeps_the_committed_previous_and_the_newest_current()
    {
        var tracker = new ChangeTracker();
        var original = Service("web", "10.96.0.1");
        tracker.UpsertService(original);
        tracker.Commit();

        tracker.UpsertService(Service("web", "10.96.0.1", port: 81));
        var newest = Service("web", "10.96.0.1", port: 82);
        tracker.UpsertService(newest);

        var change = tracker.PendingServiceChanges.Single();
        Assert.That((change.Previous, change.Current), Is.EqualTo((original, newest)));
    }

    [Test]
    public void Adding_then_deleting_before_a_commit_is_a_no_op()
    {
        var tracker = new ChangeTracker();
        tracker.UpsertEndpointSlice(Slice("web-1", "web", "10.244.0.1"));
        tracker.DeleteEndpointSlice(new ObjectKey("default", "web-1"));

        Assert.That(tracker.HasPendingChanges, Is.False);
        Assert.That(tracker.DeleteEndpointSlice(new ObjectKey("default", "never-seen")), Is.False);
    }

    [Test]
    public void Commit_builds_the_snapshot_and_names_the_services_touched()
    {
        var tracker = new ChangeTracker();
        tracker.UpsertService(Service("web", "10.96.0.1"));
        tracker.UpsertService(Service("db", "10.96.0.2"));
        tracker.UpsertEndpointSlice(Slice("web-b", "web", "10.244.0.2"));
        tracker.UpsertEndpointSlice(Slice("web-a", "web", "10.244.0.1"));
        tracker.Commit();

        tracker.UpsertEndpointSlice(Slice("web-b", "web", "10.244.0.3"));
        var commit = tracker.Commit();

        Assert.Multiple(() =>
        {
            Assert.That(commit.ChangedServices, Is.EqualTo(new[] { new ObjectKey("default", "web") }));
            Assert.That(commit.Snapshot.Services.Keys.Select(key => key.Name), Is.EqualTo(new[] { "db", "web" }));
            Assert.That(commit.Snapshot.SlicesFor(new ObjectKey("default", "web")).Select(slice => slice.Name),
                Is.EqualTo(new[] { "web-a", "web-b" }));
            Assert.That(commit.Snapshot.SlicesFor(new ObjectKey("default", "db")), Is.Empty);
        });
    }

    [Test]
    public void ReplaceAll_deletes_what_is_not_listed_and_is_a_no_op_when_nothing_differs()
    {
        var tracker = new ChangeTracker();
        tracker.ReplaceAll([Service("web", "10.96.0.1"), Service("db", "10.96.0.2")], [Slice("web-1", "web", "10.244.0.1")]);
        tracker.Commit();

        var unchanged = tracker.ReplaceAll([Service("db", "10.96.0.2"), Service("web", "10.96.0.1")], [Slice("web-1", "web", "10.244.0.1")]);
        Assert.That(unchanged, Is.False);

        var changed = tracker.ReplaceAll([Service("web", "10.96.0.1")], []);
        var commit = tracker.Commit();
        Assert.Multiple(() =>
        {
            Assert.That(changed, Is.True);
            Assert.That(commit.ChangedServices.Select(key => key.Name), Is.EquivalentTo(new[] { "db", "web" }));
            Assert.That(commit.Snapshot.Services.Keys.Select(key => key.Name), Is.EqualTo(new[] { "web" }));
            Assert.That(commit.Snapshot.SlicesByService, Is.Empty);
        });
    }

    [Test]
    public void A_slice_moving_to_another_service_touches_both()
    {
        var tracker = new ChangeTracker();
        tracker.UpsertEndpointSlice(Slice("s", "old", "10.244.0.1"));
        tracker.Commit();

        tracker.UpsertEndpointSlice(Slice("s", "new", "10.244.0.1"));

        Assert.That(tracker.Commit().ChangedServices.Select(key => key.Name), Is.EquivalentTo(new[] { "new", "old" }));
    }

    [Test]
    public void A_commit_without_trigger_times_does_not_share_the_list_later_changes_add_to()
    {
        // Found by the API churn soak: a commit with changes but no trigger time was handed the tracker's own (empty)
        // list, so a slice arriving on a watch thread while the sync thread enumerated it threw "Collection was modified".
        var tracker = new ChangeTracker();
        tracker.UpsertService(Service("web", "10.96.0.1"));
        var first = tracker.Commit();
        var later = DateTimeOffset.UtcNow.AddMinutes(1);

        using var enumerating = first.TriggerTimes.GetEnumerator();
        tracker.UpsertEndpointSlice(Slice("web-1", "web", "10.0.0.1") with { LastChangeTriggerTime = new ChangeTriggerTime(later) });
        var second = tracker.Commit();

        Assert.Multiple(() =>
        {
            Assert.That(() => enumerating.MoveNext(), Throws.Nothing);
            Assert.That(first.TriggerTimes, Is.Empty);
            Assert.That(second.TriggerTimes, Is.EqualTo(new[] { later }));
        });
    }
}
