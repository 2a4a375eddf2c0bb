using System.Globalization;
using System.Text.RegularExpressions;

namespace ProxyReplacement.Bench.Suites.EndToEnd;

/// <summary>
/// What one http_rr run printed (bench/native/http_rr.c): the timed requests, their nearest-rank percentiles and mean
/// in microseconds, the wall time they took and the size of the answers' body.
/// </summary>
public sealed partial record RequestResponse(long Requests, double P50Microseconds, double P90Microseconds, double P99Microseconds,
    double MeanMicroseconds, double Seconds, long BodyBytes)
{
    /// <summary>Requests per second of the one client (one request at a time).</summary>
    public double Rate => Requests / Seconds;

    /// <summary>Reads the tool's one result line, e.g. <c>requests=4689 p50_us=74.27 ... seconds=0.500 body_bytes=2</c>.</summary>
    public static RequestResponse Parse(string output)
    {
        var fields = Field().Matches(output).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value, StringComparer.Ordinal);
        string[] needed = ["requests", "p50_us", "p90_us", "p99_us", "mean_us", "seconds", "body_bytes"];
        if (needed.Any(name => !fields.ContainsKey(name)))
            throw new InvalidOperationException($"cannot read http_rr's output (needs {string.Join(", ", needed)}): {output}");
        double Number(string name) => double.Parse(fields[name], CultureInfo.InvariantCulture);
        var requests = long.Parse(fields["requests"], CultureInfo.InvariantCulture);
        if (requests == 0 || Number("seconds") <= 0)
            throw new InvalidOperationException($"http_rr timed no request: {output}");
        return new RequestResponse(requests, Number("p50_us"), Number("p90_us"), Number("p99_us"), Number("mean_us"), Number("seconds"),
            long.Parse(fields["body_bytes"], CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"\b([a-z0-9_]+)=([0-9.]+)\b")]
    private static partial Regex Field();
}

/// <summary>One iperf3 client run: for <paramref name="Seconds"/> or, when set, <paramref name="Bytes"/> (<c>-n</c>); <paramref name="Reverse"/>: <c>-R</c>.</summary>
public sealed record IperfRun(int Seconds, bool Reverse = false, long? Bytes = null);

/// <summary>
/// What one iperf3 run gave: the receiver's throughput and the sender's TCP retransmissions (-1: not reported); how many
/// attempts gave no result before it (iperf3 failing, retried) and what they said.
/// </summary>
public sealed record IperfResult(double Gbps, long Retransmits, int FailedAttempts = 0, string? Failures = null);
