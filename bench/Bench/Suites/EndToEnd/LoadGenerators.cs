using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using ProxyReplacement.Bench.Support;

namespace ProxyReplacement.Bench.Suites.EndToEnd;

/// <summary>
/// The clients: wrk (C, epoll, one thread) for HTTP request rates and iperf3 for single-stream throughput, both from
/// Debian, and bench/native's connect_latency for the duration of connect(). Each run's output is parsed and checked:
/// errors or non-200 answers fail the run instead of being averaged in, and so does a run whose traffic did not take
/// the path (<see cref="IActivePath.BeginRun"/>).
/// </summary>
public static partial class LoadGenerators
{
    /// <summary>wrk against <c>http://target/</c>; returns requests per second.</summary>
    /// <param name="connections">Concurrent connections.</param>
    /// <param name="shortConnections">Send <c>Connection: close</c>: the server closes after each answer and wrk reconnects.</param>
    public static double Wrk(IActivePath path, EndToEndNode? node, int connections, bool shortConnections, int seconds, CancellationToken cancellation)
    {
        var url = $"http://{path.Target}/";
        string[] arguments = shortConnections
            ? ["-t1", $"-c{connections}", $"-d{seconds}s", "-H", "Connection: close", url]
            : ["-t1", $"-c{connections}", $"-d{seconds}s", url];
        var argv = path.ClientCommand(node, "wrk", arguments);
        var check = path.BeginRun();
        var result = ExternalCommand.Check(argv[0], argv.Skip(1).ToList(), TimeSpan.FromSeconds(seconds + 30), cancellation);
        var output = result.Stdout;
        var rate = RequestsPerSecond().Match(output);
        var total = RequestsTotal().Match(output);
        if (!rate.Success || !total.Success)
            throw new InvalidOperationException($"cannot read wrk's output: {output}");
        var requests = long.Parse(total.Groups[1].Value, CultureInfo.InvariantCulture);
        if (requests == 0)
            throw new InvalidOperationException($"wrk completed no request through {path.Target}: {output}");
        var errors = SocketErrors().Match(output);
        if (errors.Success)
        {
            var count = Enumerable.Range(1, 4).Sum(g => long.Parse(errors.Groups[g].Value, CultureInfo.InvariantCulture));
            if (count > requests / 1000 + connections)
                throw new InvalidOperationException($"wrk saw {count} socket errors in {requests} requests through {path.Target}: {output}");
        }
        if (output.Contains("Non-2xx", StringComparison.Ordinal))
            throw new InvalidOperationException($"wrk got non-2xx answers through {path.Target}: {output}");
        // On short connections every completed request had a connection of its own.
        check.Verify(shortConnections ? requests : connections, $"wrk -c{connections}{(shortConnections ? " (short connections)" : "")} to {path.Target}");
        return double.Parse(rate.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    /// <summary>iperf3, one TCP stream client → server; returns the received throughput in Gbit/s.</summary>
    public static double Iperf(IActivePath path, EndToEndNode? node, int seconds, CancellationToken cancellation) =>
        Iperf(path, node, new IperfRun(seconds), cancellation).Gbps;

    /// <summary>
    /// iperf3, one TCP stream, client → server or (<see cref="IperfRun.Reverse"/>, <c>-R</c>) server → client, for
    /// <see cref="IperfRun.Seconds"/> or, when <see cref="IperfRun.Bytes"/> is set, that many bytes (<c>-n</c>, the smoke
    /// run's way to be quick); returns the throughput the receiving end saw, in Gbit/s, and the sender's retransmissions.
    /// </summary>
    public static IperfResult Iperf(IActivePath path, EndToEndNode? node, IperfRun run, CancellationToken cancellation)
    {
        string[] amount = run.Bytes is { } bytes
            ? ["-n", bytes.ToString(CultureInfo.InvariantCulture)]
            : ["-t", run.Seconds.ToString(CultureInfo.InvariantCulture)];
        var argv = path.ClientCommand(node, "iperf3", ["-c", path.Target.Address.ToString(), "-p",
            path.Target.Port.ToString(CultureInfo.InvariantCulture), .. amount, .. run.Reverse ? (string[])["-R"] : [], "-J"]);
        var failures = new List<string>();
        while (true)
        {
            var check = path.BeginRun();
            var result = ExternalCommand.Run(argv[0], argv.Skip(1).ToList(), TimeSpan.FromSeconds(run.Seconds + 30), cancellation);
            if (Parse(result.Stdout) is { } measured && result.ExitCode == 0)
            {
                check.Verify(IperfConnections, $"iperf3 -c {path.Target}{(run.Reverse ? " -R" : "")}");
                return measured with { FailedAttempts = failures.Count, Failures = failures.Count == 0 ? null : string.Join("; ", failures) };
            }
            // iperf3 itself failing (no result: e.g. its server still busy with the previous test) is retried, twice at most
            failures.Add($"exit code {result.ExitCode}: {ErrorOf(result)}");
            if (failures.Count == 3)
                throw new InvalidOperationException($"iperf3 through {path.Target} gave no result three times: {string.Join("; ", failures)}");
            Thread.Sleep(500);
        }
    }

    /// <summary>The throughput and retransmissions of iperf3's JSON, or null when it holds no result.</summary>
    private static IperfResult? Parse(string stdout)
    {
        try
        {
            using var json = JsonDocument.Parse(stdout);
            if (!json.RootElement.TryGetProperty("end", out var end) || !end.TryGetProperty("sum_received", out var received)
                || !received.TryGetProperty("bits_per_second", out var bits) || bits.GetDouble() <= 0)
                return null;
            // the sending end's count (with -R the server's, which iperf3 reports to the client)
            var retransmits = end.TryGetProperty("sum_sent", out var sent) && sent.TryGetProperty("retransmits", out var count) ? count.GetInt64() : -1;
            return new IperfResult(bits.GetDouble() / 1e9, retransmits);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string ErrorOf(CommandResult result)
    {
        try
        {
            using var json = JsonDocument.Parse(result.Stdout);
            if (json.RootElement.TryGetProperty("error", out var error))
                return error.GetString() ?? "";
        }
        catch (JsonException)
        {
            // not JSON: show the text
        }
        var text = (result.Stderr + result.Stdout).Trim();
        return text.Length > 600 ? "..." + text[^600..] : text;
    }

    /// <summary>
    /// bench/native's http_rr against the target for <paramref name="seconds"/> (fractions allowed) after
    /// <paramref name="warmup"/> untimed rounds: one HTTP request at a time, each on a new connection
    /// (<paramref name="keepAlive"/> false: connect, request, whole answer) or all on one kept-alive connection; every
    /// answer must be a 200 with its whole body. <paramref name="urlPath"/> only changes the request line (the server's
    /// port decides the answer's size).
    /// </summary>
    public static RequestResponse TimeRequests(IActivePath path, EndToEndNode? node, bool keepAlive, double seconds, int warmup,
        CancellationToken cancellation, string urlPath = "/")
    {
        var argv = path.ClientCommand(node, EndToEndNode.HttpRequestResponseBinary, [path.Target.Address.ToString(),
            path.Target.Port.ToString(CultureInfo.InvariantCulture), "-d", seconds.ToString("0.###", CultureInfo.InvariantCulture),
            "-w", warmup.ToString(CultureInfo.InvariantCulture), "-p", urlPath, .. keepAlive ? (string[])["-k"] : []]);
        var check = path.BeginRun();
        var result = ExternalCommand.Check(argv[0], argv.Skip(1).ToList(), TimeSpan.FromSeconds(seconds + 30), cancellation);
        var answer = RequestResponse.Parse(result.Stdout);
        check.Verify(keepAlive ? 1 : answer.Requests + warmup, $"http_rr{(keepAlive ? " -k" : "")} to {path.Target}");
        return answer;
    }

    /// <summary>iperf3 -c with one stream connects twice: its control connection and the data stream.</summary>
    public const int IperfConnections = 2;

    /// <summary>
    /// bench/native's connect_latency against the target for <paramref name="seconds"/>, after <paramref name="warmup"/>
    /// untimed connections: one blocking connect() at a time, each timed with CLOCK_MONOTONIC and closed with an RST.
    /// </summary>
    public static ConnectLatency TimeConnects(IActivePath path, EndToEndNode? node, int seconds, int warmup, CancellationToken cancellation)
    {
        var argv = path.ClientCommand(node, EndToEndNode.ConnectLatencyBinary, path.Target.Address.ToString(),
            path.Target.Port.ToString(CultureInfo.InvariantCulture), "-d", seconds.ToString(CultureInfo.InvariantCulture),
            "-w", warmup.ToString(CultureInfo.InvariantCulture));
        var check = path.BeginRun();
        var result = ExternalCommand.Check(argv[0], argv.Skip(1).ToList(), TimeSpan.FromSeconds(seconds + 30), cancellation);
        var latency = ConnectLatency.Parse(result.Stdout);
        check.Verify(latency.Connects + warmup, $"connect_latency to {path.Target}");
        return latency;
    }

    [GeneratedRegex(@"Requests/sec:\s+([0-9.]+)")]
    private static partial Regex RequestsPerSecond();

    [GeneratedRegex(@"([0-9]+) requests in")]
    private static partial Regex RequestsTotal();

    [GeneratedRegex(@"Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)")]
    private static partial Regex SocketErrors();
}
