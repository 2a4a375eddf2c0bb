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
    public void Before_the_first_sync_it_is_neither_ready_nor_healthy()
    {
        var time = new FakeTimeProvider(Start);
        var health = new HealthState(time, SyncPeriod);

        time.Advance(TimeSpan.FromSeconds(1));

        Assert.Multiple(() =>
        {
            Assert.That(health.Ready, Is.False);
            Assert.That(health.Healthy, Is.False);
            Assert.That(health.LastSync, Is.Null);
            Assert.That(health.Now, Is.EqualTo(Start + TimeSpan.FromSeconds(1)));
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
}
