using System.Globalization;

namespace ProxyReplacement.Bench.Core;

/// <summary>
/// Waits, before a real run, for the 1-minute load average to fall below <see cref="Quiet"/>: `make bench` builds
/// everything first (clang, dotnet build, publish), and that load would otherwise still be on the CPUs, and in the
/// report's "load at the start", while the first suite measures. Bounded: a machine that stays busy is measured anyway
/// (the report shows the load it had).
/// </summary>
public static class LoadSettler
{
    public const double Quiet = 0.5;

    /// <returns>How long it waited.</returns>
    public static TimeSpan WaitForQuiet(TimeSpan limit, TextWriter log, CancellationToken cancellation)
    {
        var started = DateTimeOffset.UtcNow;
        var announced = false;
        while (OneMinuteLoad() is { } load && load >= Quiet && DateTimeOffset.UtcNow - started < limit)
        {
            if (!announced)
            {
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"proxy-bench: 1-minute load {load:F2}; waiting up to {limit.TotalSeconds:F0} s for it to fall below {Quiet}"));
                announced = true;
            }
            cancellation.WaitHandle.WaitOne(TimeSpan.FromSeconds(5));
            cancellation.ThrowIfCancellationRequested();
        }
        return DateTimeOffset.UtcNow - started;
    }

    private static double? OneMinuteLoad() =>
        File.Exists("/proc/loadavg")
        && double.TryParse(File.ReadAllText("/proc/loadavg").Split(' ')[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var load)
            ? load
            : null;
}
