using System.Threading.Channels;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Tests.Support;

namespace ProxyReplacement.ServiceProxy.Tests.Sync;

public sealed class RunnerScheduleTests
{
    private static readonly DateTimeOffset T0 = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Min = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Max = TimeSpan.FromSeconds(30);

    private static RunnerSchedule.Decision At(double seconds, double? lastRun, double? lastFull, bool pending, double? notReady = null) =>
        RunnerSchedule.Next(T0.AddSeconds(seconds), lastRun is { } r ? T0.AddSeconds(r) : null,
            lastFull is { } f ? T0.AddSeconds(f) : null, pending, Min, Max, notReady is { } n ? T0.AddSeconds(n) : null);

    [Test]
    public void The_first_run_is_full_and_immediate() =>
        Assert.That(At(0, null, null, false), Is.EqualTo(new RunnerSchedule.Decision(RunKind.Full, TimeSpan.Zero)));

    [Test]
    public void A_trigger_within_the_minimum_interval_waits_for_its_end() =>
        Assert.That(At(0.25, 0, 0, true), Is.EqualTo(new RunnerSchedule.Decision(null, TimeSpan.FromSeconds(0.75))));

    [Test]
    public void A_trigger_after_the_minimum_interval_runs_now() =>
        Assert.That(At(5, 0, 0, true), Is.EqualTo(new RunnerSchedule.Decision(RunKind.Triggered, TimeSpan.Zero)));

    [Test]
    public void Without_a_trigger_it_sleeps_until_the_full_resync() =>
        Assert.That(At(10, 4, 0, false), Is.EqualTo(new RunnerSchedule.Decision(null, TimeSpan.FromSeconds(20))));

    [Test]
    public void A_due_full_resync_wins_over_a_trigger() =>
        Assert.That(At(31, 20, 0, true), Is.EqualTo(new RunnerSchedule.Decision(RunKind.Full, TimeSpan.Zero)));

    [Test]
    public void Even_a_due_full_resync_respects_the_minimum_interval() =>
        Assert.That(At(30, 29.5, 0, false), Is.EqualTo(new RunnerSchedule.Decision(null, TimeSpan.FromSeconds(0.5))));

    [Test]
    public void After_an_attempt_that_was_not_ready_it_waits_for_a_trigger_or_the_maximum_interval() =>
        Assert.That(At(0.25, null, null, false, notReady: 0), Is.EqualTo(new RunnerSchedule.Decision(null, TimeSpan.FromSeconds(29.75))));

    [Test]
    public void A_trigger_after_an_attempt_that_was_not_ready_runs_a_full_run_at_once_whatever_the_minimum_interval() =>
        Assert.That(At(0.25, null, null, true, notReady: 0), Is.EqualTo(new RunnerSchedule.Decision(RunKind.Full, TimeSpan.Zero)));

    [Test]
    public void Attempts_that_are_not_ready_are_retried_after_the_maximum_interval() =>
        Assert.That(At(30, null, null, false, notReady: 0), Is.EqualTo(new RunnerSchedule.Decision(RunKind.Full, TimeSpan.Zero)));

    [Test]
    public void A_trigger_right_after_a_run_waits_only_for_a_short_minimum_interval()
    {
        var decision = RunnerSchedule.Next(T0.AddMilliseconds(2), T0, T0, triggerPending: true, TimeSpan.FromMilliseconds(5), Max);
        Assert.That(decision, Is.EqualTo(new RunnerSchedule.Decision(null, TimeSpan.FromMilliseconds(3))));
    }
}

public sealed class BoundedFrequencyRunnerTests
{
    private static readonly DateTimeOffset T0 = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Test]
    [CancelAfter(20_000)]
    public async Task Bursts_coalesce_runs_are_spaced_and_a_full_resync_comes_periodically()
    {
        var time = new FakeTimeProvider(T0);
        var runs = Channel.CreateUnbounded<(RunKind Kind, DateTimeOffset At)>();
        var runner = new BoundedFrequencyRunner(
            (kind, _) => { runs.Writer.TryWrite((kind, time.GetUtcNow())); return Task.CompletedTask; },
            minInterval: TimeSpan.FromSeconds(5), maxInterval: TimeSpan.FromSeconds(60), time);
        using var stop = new CancellationTokenSource();
        var loop = Task.Run(() => runner.RunAsync(stop.Token));
        try
        {
            Assert.That(await runs.Reader.ReadAsync(), Is.EqualTo((RunKind.Full, T0)));
            await time.WaitForTimerDueAsync(T0.AddSeconds(60));

            time.Advance(TimeSpan.FromSeconds(1));
            runner.Trigger();
            runner.Trigger();
            runner.Trigger();
            await time.WaitForTimerDueAsync(T0.AddSeconds(5)); // parked until the minimum interval is over
            time.Advance(TimeSpan.FromSeconds(3));
            Assert.That(runs.Reader.TryRead(out _), Is.False, "no run before the minimum interval");
            time.Advance(TimeSpan.FromSeconds(1));
            Assert.That(await runs.Reader.ReadAsync(), Is.EqualTo((RunKind.Triggered, T0.AddSeconds(5))));

            await time.WaitForTimerDueAsync(T0.AddSeconds(60));
            Assert.That(runs.Reader.TryRead(out _), Is.False, "three triggers made one run");
            time.Advance(TimeSpan.FromSeconds(55));
            Assert.That(await runs.Reader.ReadAsync(), Is.EqualTo((RunKind.Full, T0.AddSeconds(60))));

            // A trigger long after the last run is served at once.
            await time.WaitForTimerDueAsync(T0.AddSeconds(120));
            time.Advance(TimeSpan.FromSeconds(10));
            runner.Trigger();
            Assert.That(await runs.Reader.ReadAsync(), Is.EqualTo((RunKind.Triggered, T0.AddSeconds(70))));
        }
        finally
        {
            await stop.CancelAsync();
            await loop;
        }
    }

    [Test]
    [CancelAfter(20_000)]
    public async Task Runs_that_find_the_caller_not_ready_do_not_count_so_the_first_real_run_does_not_wait_for_the_interval()
    {
        var time = new FakeTimeProvider(T0);
        var attempts = Channel.CreateUnbounded<(RunKind Kind, DateTimeOffset At, bool Ready)>();
        var ready = false;
        var runner = new BoundedFrequencyRunner(
            (kind, _) =>
            {
                var isReady = Volatile.Read(ref ready);
                attempts.Writer.TryWrite((kind, time.GetUtcNow(), isReady));
                return Task.FromResult(isReady ? RunOutcome.Ran : RunOutcome.NotReady);
            },
            minInterval: TimeSpan.FromSeconds(5), maxInterval: TimeSpan.FromSeconds(60), time);
        using var stop = new CancellationTokenSource();
        var loop = Task.Run(() => runner.RunAsync(stop.Token));
        try
        {
            Assert.That(await attempts.Reader.ReadAsync(), Is.EqualTo((RunKind.Full, T0, false)), "the first attempt is at once");
            await time.WaitForTimerDueAsync(T0.AddSeconds(60)); // parked: no retry loop, only the maximum interval
            Assert.That(attempts.Reader.TryRead(out _), Is.False);

            // The source synced 1 s later and triggers: the first real run is full and starts now, not at T0 + 5 s.
            time.Advance(TimeSpan.FromSeconds(1));
            Volatile.Write(ref ready, true);
            runner.Trigger();
            Assert.That(await attempts.Reader.ReadAsync(), Is.EqualTo((RunKind.Full, T0.AddSeconds(1), true)));

            // From then on the interval counts from that run.
            await time.WaitForTimerDueAsync(T0.AddSeconds(61));
            time.Advance(TimeSpan.FromSeconds(1));
            runner.Trigger();
            await time.WaitForTimerDueAsync(T0.AddSeconds(6));
            Assert.That(attempts.Reader.TryRead(out _), Is.False, "held by the minimum interval");
            time.Advance(TimeSpan.FromSeconds(4));
            Assert.That(await attempts.Reader.ReadAsync(), Is.EqualTo((RunKind.Triggered, T0.AddSeconds(6), true)));
        }
        finally
        {
            await stop.CancelAsync();
            await loop;
        }
    }

    [Test]
    [CancelAfter(20_000)]
    public async Task A_failing_run_is_retried_after_the_minimum_interval()
    {
        var time = new FakeTimeProvider(T0);
        var runs = Channel.CreateUnbounded<(RunKind Kind, DateTimeOffset At)>();
        var failures = 1;
        var runner = new BoundedFrequencyRunner(
            (kind, _) =>
            {
                runs.Writer.TryWrite((kind, time.GetUtcNow()));
                return failures-- > 0 ? throw new InvalidOperationException("boom") : Task.CompletedTask;
            },
            minInterval: TimeSpan.FromSeconds(2), maxInterval: TimeSpan.FromSeconds(60), time);
        using var stop = new CancellationTokenSource();
        var loop = Task.Run(() => runner.RunAsync(stop.Token));
        try
        {
            Assert.That(await runs.Reader.ReadAsync(), Is.EqualTo((RunKind.Full, T0)));
            await time.WaitForTimerDueAsync(T0.AddSeconds(2));
            time.Advance(TimeSpan.FromSeconds(2));
            Assert.That(await runs.Reader.ReadAsync(), Is.EqualTo((RunKind.Triggered, T0.AddSeconds(2))));
        }
        finally
        {
            await stop.CancelAsync();
            await loop;
        }
    }
}
