using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace ProxyReplacement.Dataplane.Tests.Netns;

/// <summary>What one sock_client.py run reported.</summary>
public sealed record SocketClientResult(string Json)
{
    private JsonElement Root => JsonDocument.Parse(Json).RootElement;

    public string? Error => Root.TryGetProperty("error", out var e) ? e.GetString() : null;
    public string? Reply => Root.TryGetProperty("reply", out var r) ? r.GetString() : null;
    public double Seconds => Root.GetProperty("seconds").GetDouble();
    public IPEndPoint? Peer => EndPoint("peer");
    public IPEndPoint? From => EndPoint("from");
    public IPEndPoint? Local => EndPoint("local");

    /// <summary><c>hold</c>, second line: the socket stayed open through the wait (and then <see cref="ThenReply"/>).</summary>
    public bool Held => Root.TryGetProperty("held", out var h) && h.GetBoolean();
    public string? ThenReply => Root.TryGetProperty("then_reply", out var r) ? r.GetString() : null;

    private IPEndPoint? EndPoint(string name) =>
        Root.TryGetProperty(name, out var e) ? new IPEndPoint(IPAddress.Parse(e[0].GetString()!), e[1].GetInt32()) : null;

    public override string ToString() => Json;
}

/// <summary>
/// Runs tests/Dataplane.Tests/Netns/sock_client.py as a separate process placed in a cgroup (or
/// in none of ours) and a network namespace: the shell writes its own pid into the cgroup's
/// cgroup.procs, then execs <c>ip netns exec</c> (which remounts /sys, so the order matters).
/// </summary>
public static class CgroupClient
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    public static string Script => Path.Combine(AppContext.BaseDirectory, "sock_client.py");

    /// <param name="cgroup">The cgroup directory to run in; null: stay in the test runner's cgroup.</param>
    /// <param name="netns">The network namespace; null: the namespace of the test runner (the host's).</param>
    public static SocketClientResult Run(string? cgroup, string? netns, params string[] arguments)
    {
        var command = string.Join(' ', new[] { "python3", Quote(Script) }.Concat(arguments.Select(Quote)));
        if (netns is not null)
            command = $"ip netns exec {Quote(netns)} {command}";
        var script = cgroup is null ? $"exec {command}" : $"echo $$ > {Quote(Path.Combine(cgroup, "cgroup.procs"))} && exec {command}";

        var start = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start sh");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Limit))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"socket client did not finish within {Limit.TotalSeconds:0} s: {script}");
        }
        var line = stdout.Result.Trim().Split('\n').LastOrDefault() ?? "";
        if (process.ExitCode != 0 || !line.StartsWith('{'))
            throw new InvalidOperationException($"socket client failed (exit {process.ExitCode}): {script}\n{stdout.Result}\n{stderr.Result}");
        return new SocketClientResult(line);
    }

    private static string Quote(string value) => "'" + value.Replace("'", "'\\''") + "'";
}
