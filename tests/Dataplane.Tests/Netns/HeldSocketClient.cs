using System.Diagnostics;

namespace ProxyReplacement.Dataplane.Tests.Netns;

/// <summary>
/// A long-lived <c>sock_client.py hold</c> process in a cgroup and a network namespace: it connects (TCP or
/// connected UDP) and exchanges a line (<see cref="Connected"/>), then blocks in recv() for a while and reports how
/// that ended (the second line: ECONNABORTED when its socket was destroyed, or <c>held</c>), then makes a new
/// connection (the third line). Dispose kills it if it still runs.
/// </summary>
public sealed class HeldSocketClient : IDisposable
{
    private static readonly TimeSpan LineLimit = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly string _script;
    private readonly System.Collections.Concurrent.BlockingCollection<string> _lines = new();
    private readonly System.Text.StringBuilder _stderr = new();

    private HeldSocketClient(Process process, string script)
    {
        _process = process;
        _script = script;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
                _lines.CompleteAdding();
            else if (e.Data.StartsWith('{'))
                _lines.Add(e.Data);
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
                lock (_stderr)
                    _stderr.AppendLine(e.Data);
        };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>The first line: the connection and its first exchange.</summary>
    public SocketClientResult Connected { get; private set; } = null!;

    /// <param name="cgroup">The cgroup to run in; null: the test runner's.</param>
    /// <param name="protocol"><c>tcp</c> or <c>udp</c> (connected).</param>
    /// <param name="waitSeconds">How long the second phase blocks in recv() before it calls the socket held.</param>
    public static HeldSocketClient Start(string? cgroup, string netns, string protocol, string host, int port, string text, double waitSeconds)
    {
        string[] arguments = ["hold", protocol, host, port.ToString(), text, waitSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        var command = $"ip netns exec {Quote(netns)} python3 {Quote(CgroupClient.Script)} {string.Join(' ', arguments.Select(Quote))}";
        var script = cgroup is null ? $"exec {command}" : $"echo $$ > {Quote(Path.Combine(cgroup, "cgroup.procs"))} && exec {command}";
        var start = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start sh");
        var client = new HeldSocketClient(process, script);
        try
        {
            client.Connected = client.Next();
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>The pid of the client (python, after the shell's exec).</summary>
    public int Pid => _process.Id;

    /// <summary>The next line the client prints (waits up to 30 s).</summary>
    public SocketClientResult Next()
    {
        if (_lines.TryTake(out var line, LineLimit))
            return new SocketClientResult(line);
        string stderr;
        lock (_stderr)
            stderr = _stderr.ToString();
        throw new InvalidOperationException($"the held socket client printed no line within {LineLimit.TotalSeconds:0} s: {_script}\n{stderr}");
    }

    /// <summary>The next line if the client prints one within <paramref name="wait"/>, else null (e.g. while its socket is still held).</summary>
    public SocketClientResult? TryNext(TimeSpan wait) =>
        _lines.TryTake(out var line, wait) ? new SocketClientResult(line) : null;

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // never started or already reaped
        }
        _process.Dispose();
    }

    private static string Quote(string value) => "'" + value.Replace("'", "'\\''") + "'";
}
