namespace ProxyReplacement.ServiceProxy.Sync;

public enum RunKind
{
    /// <summary>Periodic (and first) run: re-read the dataplane and repair drift.</summary>
    Full,
    /// <summary>A run asked for by <see cref="BoundedFrequencyRunner.Trigger"/>.</summary>
    Triggered,
}

/// <summary>
/// The decision of <see cref="BoundedFrequencyRunner"/>, kept pure for tests: run now (and
/// which kind), or how long to wait. Runs start at least <c>min</c> apart; a full run is due
/// <c>max</c> after the previous full run; triggers coalesce into one pending flag.
/// </summary>
public static class RunnerSchedule
{
    public readonly record struct Decision(RunKind? RunNow, TimeSpan Wait);

    public static Decision Next(DateTimeOffset now, DateTimeOffset? lastRun, DateTimeOffset? lastFullRun,
        bool triggerPending, TimeSpan minInterval, TimeSpan maxInterval)
    {
        if (lastRun is null || lastFullRun is null)
            return new(RunKind.Full, TimeSpan.Zero);
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
