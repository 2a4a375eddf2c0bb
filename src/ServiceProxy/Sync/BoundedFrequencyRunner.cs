using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// Runs a sync function no more often than <c>minInterval</c> and at least every
/// <c>maxInterval</c> (as a full resync that repairs drift). <see cref="Trigger"/> asks for a
/// run; bursts of triggers coalesce into one: the triggers that arrive while a run is going on, or
/// within <c>minInterval</c> of its start, are served by one run. A run that finds its caller not ready
/// (<see cref="RunOutcome.NotReady"/>: the source has not delivered its first view) does not count,
/// so the first real run starts as soon as it is triggered, without waiting for the interval. Time
/// comes from an injectable <see cref="TimeProvider"/> so tests drive it by hand. The decision logic is
/// <see cref="RunnerSchedule.Next"/>.
/// </summary>
public sealed partial class BoundedFrequencyRunner
{
    private readonly Func<RunKind, CancellationToken, Task<RunOutcome>> _run;
    private readonly TimeSpan _minInterval;
    private readonly TimeSpan _maxInterval;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _wakeUp = new(0, 1);
    private int _triggerPending;

    /// <summary>A runner whose every run counts (it never reports <see cref="RunOutcome.NotReady"/>).</summary>
    public BoundedFrequencyRunner(Func<RunKind, CancellationToken, Task> run, TimeSpan minInterval, TimeSpan maxInterval,
        TimeProvider? time = null, ILogger<BoundedFrequencyRunner>? logger = null)
        : this(async (kind, token) =>
        {
            await run(kind, token).ConfigureAwait(false);
            return RunOutcome.Ran;
        }, minInterval, maxInterval, time, logger)
    {
    }

    public BoundedFrequencyRunner(Func<RunKind, CancellationToken, Task<RunOutcome>> run, TimeSpan minInterval, TimeSpan maxInterval,
        TimeProvider? time = null, ILogger<BoundedFrequencyRunner>? logger = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(minInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxInterval, minInterval);
        ArgumentOutOfRangeException.ThrowIfEqual(maxInterval, TimeSpan.Zero);
        _run = run;
        _minInterval = minInterval;
        _maxInterval = maxInterval;
        _time = time ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>Asks for a run as soon as the minimum interval allows. Never blocks.</summary>
    public void Trigger()
    {
        Interlocked.Exchange(ref _triggerPending, 1);
        try
        {
            _wakeUp.Release();
        }
        catch (SemaphoreFullException)
        {
            // already awake or about to wake: the pending flag carries the request
        }
    }

    /// <summary>
    /// Runs until <paramref name="cancellationToken"/> is cancelled; the first run is immediate and full (and so is the
    /// first after attempts that found the caller not ready: at its trigger).
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        DateTimeOffset? lastRun = null;
        DateTimeOffset? lastFullRun = null;
        DateTimeOffset? notReady = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            var now = _time.GetUtcNow();
            var decision = RunnerSchedule.Next(now, lastRun, lastFullRun, Volatile.Read(ref _triggerPending) == 1,
                _minInterval, _maxInterval, notReady);
            if (decision.RunNow is not { } kind)
            {
                await WaitAsync(decision.Wait, cancellationToken).ConfigureAwait(false);
                continue;
            }

            Interlocked.Exchange(ref _triggerPending, 0);
            var counts = true;
            try
            {
                // Before any run that counted, a run that was not ready leaves no trace but the time of the attempt.
                counts = await _run(kind, cancellationToken).ConfigureAwait(false) == RunOutcome.Ran || lastRun is not null;
                if (!counts)
                    notReady = now;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception error)
            {
                // Retry after the minimum interval rather than waiting for the next full run.
                LogRunFailed(_logger, kind, error);
                Interlocked.Exchange(ref _triggerPending, 1);
            }
            if (counts)
            {
                lastRun = now; // the interval counts from a run's start
                if (kind == RunKind.Full)
                    lastFullRun = now;
            }
        }
    }

    private async Task WaitAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var delay = Task.Delay(wait, _time, stop.Token);
        var wakeUp = _wakeUp.WaitAsync(stop.Token);
        await Task.WhenAny(delay, wakeUp).ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(delay, wakeUp).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // the loser of the race, or shutdown: the loop re-checks the token
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{Kind} sync run failed; retrying after the minimum interval")]
    private static partial void LogRunFailed(ILogger logger, RunKind kind, Exception error);
}
