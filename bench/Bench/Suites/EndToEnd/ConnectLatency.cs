using System.Globalization;
using System.Text.RegularExpressions;

namespace ProxyReplacement.Bench.Suites.EndToEnd;

/// <summary>
/// What one connect_latency run printed (bench/native/connect_latency.c): the timed connections and their
/// nearest-rank percentiles and mean, in microseconds.
/// </summary>
public sealed partial record ConnectLatency(long Connects, double P50Microseconds, double P90Microseconds, double P99Microseconds,
    double MeanMicroseconds)
{
    /// <summary>Reads the tool's one result line, e.g. <c>connects=27264 p50_us=22.12 p90_us=23.61 p99_us=41.35 mean_us=21.57 ...</c>.</summary>
    public static ConnectLatency Parse(string output)
    {
        var fields = Field().Matches(output).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value, StringComparer.Ordinal);
        string[] needed = ["connects", "p50_us", "p90_us", "p99_us", "mean_us"];
        if (needed.Any(name => !fields.ContainsKey(name)))
            throw new InvalidOperationException($"cannot read connect_latency's output (needs {string.Join(", ", needed)}): {output}");
        var connects = long.Parse(fields["connects"], CultureInfo.InvariantCulture);
        if (connects == 0)
            throw new InvalidOperationException($"connect_latency timed no connection: {output}");
        double Number(string name) => double.Parse(fields[name], CultureInfo.InvariantCulture);
        return new ConnectLatency(connects, Number("p50_us"), Number("p90_us"), Number("p99_us"), Number("mean_us"));
    }

    [GeneratedRegex(@"\b([a-z0-9_]+)=([0-9.]+)\b")]
    private static partial Regex Field();
}
