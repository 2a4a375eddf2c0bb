namespace ProxyReplacement.ServiceProxy.Sync;

public enum RunKind
{
    /// <summary>Periodic (and first) run: re-read the dataplane and repair drift.</summary>
    Full,
    /// <summary>A run asked for by <see cref="BoundedFrequencyRunner.Trigger"/>.</summary>
    Triggered,
}

/// <summary>What a run did: <see cref="NotReady"/> when it could not run yet (the source has not delivered its first view).</summary>
public enum RunOutcome
{
    Ran,
    /// <summary>Nothing was done: the run does not count, so the first real run is full and not held by the minimum interval.</summary>
    NotReady,
}

/// <summary>
/// The decision of <see cref="BoundedFrequencyRunner"/>, kept pure for tests: run now (and
/// which kind), or how long to wait. Runs start at least <c>min</c> apart; a full run is due
/// <c>max</c> after the previous full run; triggers coalesce into one pending flag. Before the first
/// run that really ran, nothing holds a run back: the first run is full and immediate, and when an
/// attempt found the caller not ready (<paramref name="notReady"/>), the next one waits for a trigger
/// (or <c>max</c>) only.
/// </summary>
public static class RunnerSchedule
{
    public readonly record struct Decision(RunKind? RunNow, TimeSpan Wait);

    public static Decision Next(DateTimeOffset now, DateTimeOffset? lastRun, DateTimeOffset? lastFullRun,
        bool triggerPending, TimeSpan minInterval, TimeSpan maxInterval, DateTimeOffset? notReady = null)
    {
        if (lastRun is null || lastFullRun is null)
        {
            if (notReady is not { } attempted || triggerPending)
                return new(RunKind.Full, TimeSpan.Zero);
            // Not ready at the last attempt: the caller triggers when it is (a source that synced); try again after max anyway.
            var retryAt = attempted + maxInterval;
            return now >= retryAt ? new(RunKind.Full, TimeSpan.Zero) : new(null, retryAt - now);
        }
        var allowedAt = lastRun.Value + minInterval; // no run of any kind before this
        var fullDueAt = lastFullRun.Value + maxInterval;
        if (now >= allowedAt)
        {
            if (now >= fullDueAt)
                return new(RunKind.Full, TimeSpan.Zero); // a full run also serves a pending trigger
            if (triggerPending)
                return new(RunKind.Triggered, TimeSpan.Zero);
        }
        var wakeAt = triggerPending ? allowedAt : (fullDueAt > allowedAt ? fullDueAt : allowedAt);
        return new(null, wakeAt - now);
    }
}
