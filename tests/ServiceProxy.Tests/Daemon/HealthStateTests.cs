using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Tests.Support;

namespace ProxyReplacement.ServiceProxy.Tests.Daemon;

public sealed class HealthStateTests
{
    private static readonly DateTimeOffset Start = new(2025, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan SyncPeriod = TimeSpan.FromSeconds(30);

    /// <summary>How long after the last sync the daemon still counts as healthy: two periods and a margin.</summary>
    private static readonly TimeSpan HealthyFor = SyncPeriod * 2 + TimeSpan.FromSeconds(5);

    [Test]
    public void Before_the_first_sync_it_is_not_ready_but_healthy_while_starting_up()
    {
        var time = new FakeTimeProvider(Start);
        var health = new HealthState(time, SyncPeriod);

        time.Advance(TimeSpan.FromMinutes(10));

        Assert.Multiple(() =>
        {
            Assert.That(health.Ready, Is.False);
            Assert.That(health.Healthy, Is.True, "kube-proxy is healthy while starting up (e.g. its API server is not reachable yet)");
            Assert.That(health.NodeEligible, Is.True);
            Assert.That(health.LastSync, Is.Null);
            Assert.That(health.Now, Is.EqualTo(Start + TimeSpan.FromMinutes(10)));
        });
    }

    [Test]
    public void A_sync_makes_it_ready_and_healthy_and_records_when()
    {
        var time = new FakeTimeProvider(Start);
        var health = new HealthState(time, SyncPeriod);
        time.Advance(TimeSpan.FromSeconds(3));

        health.RecordSync();

        Assert.Multiple(() =>
        {
            Assert.That(health.Ready, Is.True);
            Assert.That(health.Healthy, Is.True);
            Assert.That(health.LastSync, Is.EqualTo(Start + TimeSpan.FromSeconds(3)));
        });
    }

    [Test]
    public void Without_syncs_it_turns_unhealthy_after_two_periods_and_a_margin_but_stays_ready()
    {
        var time = new FakeTimeProvider(Start);
        var health = new HealthState(time, SyncPeriod);
        health.RecordSync();

        time.Advance(HealthyFor);
        var atTheLimit = health.Healthy;
        time.Advance(TimeSpan.FromTicks(1));
        var pastTheLimit = health.Healthy;

        Assert.Multiple(() =>
        {
            Assert.That(atTheLimit, Is.True);
            Assert.That(pastTheLimit, Is.False);
            Assert.That(health.Ready, Is.True, "readiness means the first view was delivered; it is not lost");
        });
    }

    [Test]
    public void The_next_sync_makes_it_healthy_again()
    {
        var time = new FakeTimeProvider(Start);
        var health = new HealthState(time, SyncPeriod);
        health.RecordSync();
        time.Advance(HealthyFor + TimeSpan.FromMinutes(5));
        Assert.That(health.Healthy, Is.False);

        health.RecordSync();

        Assert.That(health.Healthy, Is.True);
        Assert.That(health.LastSync, Is.EqualTo(Start + HealthyFor + TimeSpan.FromMinutes(5)));
    }

    [Test]
    public void The_margin_scales_with_the_sync_period()
    {
        var time = new FakeTimeProvider(Start);
        var health = new HealthState(time, TimeSpan.FromMinutes(5));
        health.RecordSync();

        time.Advance(TimeSpan.FromMinutes(9));

        Assert.That(health.Healthy, Is.True, "a 5m period tolerates 10m5s without a sync");
        time.Advance(TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(6));
        Assert.That(health.Healthy, Is.False);
    }

    [Test]
    public void A_degraded_source_is_reported_but_changes_neither_health_nor_readiness()
    {
        var time = new FakeTimeProvider(Start);
        var health = new HealthState(time, SyncPeriod);
        health.RecordSync();
        var since = time.GetUtcNow();

        health.ReportSource(SourceCondition.Failing("services: watch services: connection refused", since));

        Assert.Multiple(() =>
        {
            Assert.That(health.Source.Degraded, Is.True);
            Assert.That(health.Source.Reason, Is.EqualTo("services: watch services: connection refused"));
            Assert.That(health.Source.Since, Is.EqualTo(since));
            Assert.That(health.Healthy, Is.True, "a liveness probe must not kill a proxy whose API server is down");
            Assert.That(health.Ready, Is.True);
        });
        health.ReportSource(SourceCondition.Ok);
        Assert.That(health.Source.Degraded, Is.False);
    }

    [Test]
    public void A_queued_change_not_applied_within_two_sync_periods_makes_it_unhealthy()
    {
        var time = new FakeTimeProvider(Start);
        var health = new HealthState(time, SyncPeriod);
        health.RecordSync();
        time.Advance(TimeSpan.FromSeconds(1));

        health.QueuedUpdate();
        time.Advance(TimeSpan.FromSeconds(10));
        health.QueuedUpdate(); // a later change: the oldest one counts
        time.Advance(SyncPeriod * 2 - TimeSpan.FromSeconds(10) - TimeSpan.FromTicks(1));
        var justBefore = health.Healthy;
        time.Advance(TimeSpan.FromTicks(1));

        Assert.Multiple(() =>
        {
            Assert.That(health.Timeout, Is.EqualTo(SyncPeriod * 2));
            Assert.That(justBefore, Is.True);
            Assert.That(health.Healthy, Is.False, "the change queued 2 periods ago is still not applied");
            Assert.That(health.PendingSince, Is.EqualTo(Start + TimeSpan.FromSeconds(1)));
        });
        health.RecordSync();
        Assert.That(health.Healthy, Is.True);
        Assert.That(health.PendingSince, Is.Null);
    }

    [Test]
    public void A_queued_change_before_the_first_sync_counts_too()
    {
        var time = new FakeTimeProvider(Start);
        var health = new HealthState(time, SyncPeriod);

        health.QueuedUpdate();
        time.Advance(SyncPeriod * 2);

        Assert.That(health.Healthy, Is.False, "the source delivered its view, but no sync applied it (a hung sync loop)");
    }

    [Test]
    public void A_sync_whose_writes_failed_leaves_the_change_pending()
    {
        var time = new FakeTimeProvider(Start);
        var health = new HealthState(time, SyncPeriod);
        health.QueuedUpdate();
        time.Advance(TimeSpan.FromSeconds(5));

        health.SyncStarting();
        health.RecordSync(applied: false);
        time.Advance(SyncPeriod * 2);

        Assert.Multiple(() =>
        {
            Assert.That(health.Healthy, Is.False);
            Assert.That(health.Ready, Is.True, "readiness only needs the first sync to have run");
            Assert.That(health.PendingSince, Is.EqualTo(Start));
        });
    }

    [Test]
    public void A_change_queued_while_a_sync_runs_stays_pending_after_it()
    {
        var time = new FakeTimeProvider(Start);
        var health = new HealthState(time, SyncPeriod);
        health.QueuedUpdate();
        health.SyncStarting();
        time.Advance(TimeSpan.FromSeconds(2));
        health.QueuedUpdate(); // may have missed the sync's commit

        time.Advance(TimeSpan.FromSeconds(1));
        health.RecordSync();

        Assert.That(health.PendingSince, Is.EqualTo(Start + TimeSpan.FromSeconds(2)));
        health.SyncStarting();
        health.RecordSync();
        Assert.That(health.PendingSince, Is.Null);
    }

    [Test]
    public void A_draining_node_is_not_eligible_but_stays_healthy()
    {
        var time = new FakeTimeProvider(Start);
        var health = new HealthState(time, SyncPeriod);
        health.RecordSync();
        var node = new Model.Node("node-a", Model.EquatableList<Model.NodeAddress>.Empty, "zone-a");

        health.ReportNode(node with { TaintKeys = Model.EquatableList.From<string>(Model.Node.ToBeDeletedTaint) });
        var tainted = (health.NodeEligible, health.Healthy);
        health.ReportNode(node);
        var untainted = health.NodeEligible;
        health.ReportNode(node with { BeingDeleted = true });
        var deleted = health.NodeEligible;
        health.ReportNode(null);

        Assert.Multiple(() =>
        {
            Assert.That(tainted, Is.EqualTo((false, true)));
            Assert.That(untainted, Is.True);
            Assert.That(deleted, Is.False);
            Assert.That(health.NodeEligible, Is.True, "an unknown node counts as eligible, as in kube-proxy");
        });
    }
}
