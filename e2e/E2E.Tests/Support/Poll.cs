using System.Diagnostics;

namespace ProxyReplacement.E2E.Tests.Support;

/// <summary>Waiting for the daemon to converge: poll a condition until a deadline instead of sleeping a fixed time.</summary>
internal static class Poll
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Calls <paramref name="probe"/> until it returns a non-null value or <paramref name="timeout"/> passes.
    /// Returns the value and the time it took; on timeout the value is null.
    /// </summary>
    public static async Task<(T? Value, TimeSpan Elapsed)> UntilAsync<T>(Func<Task<T?>> probe, TimeSpan timeout)
        where T : class
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var value = await probe();
            if (value is not null || clock.Elapsed >= timeout)
                return (value, clock.Elapsed);
            await Task.Delay(Interval);
        }
    }
}
