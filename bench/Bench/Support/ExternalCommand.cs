using System.Diagnostics;
using System.Text;

namespace ProxyReplacement.Bench.Support;

/// <summary>What a finished command printed, and how long it ran (wall clock, process start to exit).</summary>
public sealed record CommandResult(int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed);

/// <summary>
/// Runs a tool (iptables-restore, wrk, iperf3, ip) to completion. A command that outlives its timeout,
/// or a cancelled run, is killed with its process tree, so nothing keeps running behind the harness.
/// </summary>
public static class ExternalCommand
{
    public static CommandResult Run(string command, IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken cancellation,
        string? stdinFile = null)
    {
        var start = new ProcessStartInfo(command)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdinFile is not null,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);

        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {command}");
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            if (stdinFile is not null)
            {
                using (var input = File.OpenRead(stdinFile))
                    input.CopyTo(process.StandardInput.BaseStream);
                process.StandardInput.Close();
            }
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            deadline.CancelAfter(timeout);
            process.WaitForExitAsync(deadline.Token).GetAwaiter().GetResult();
        }
        catch (Exception error) when (error is OperationCanceledException or IOException)
        {
            Kill(process);
            cancellation.ThrowIfCancellationRequested();
            if (error is IOException && process.HasExited)
                throw new InvalidOperationException($"'{Describe(command, arguments)}' exited while reading its input: {stderr.Result.Trim()}", error);
            throw new TimeoutException($"'{Describe(command, arguments)}' did not finish within {timeout.TotalSeconds:0} s");
        }
        clock.Stop();
        return new CommandResult(process.ExitCode, stdout.Result, stderr.Result, clock.Elapsed);
    }

    /// <summary>As <see cref="Run"/>, but a non-zero exit is an error carrying the command's stderr.</summary>
    public static CommandResult Check(string command, IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken cancellation,
        string? stdinFile = null)
    {
        var result = Run(command, arguments, timeout, cancellation, stdinFile);
        if (result.ExitCode != 0)
            throw new InvalidOperationException(
                $"'{Describe(command, arguments)}' failed with exit code {result.ExitCode}: {Tail(result.Stderr + result.Stdout)}");
        return result;
    }

    /// <summary>Runs <paramref name="command"/> in a network namespace, pinned to <paramref name="cpus"/> when given.</summary>
    public static string[] InNamespace(string netns, string? cpus, string command, params string[] arguments) =>
        cpus is null
            ? ["netns", "exec", netns, command, .. arguments]
            : ["netns", "exec", netns, "taskset", "-c", cpus, command, .. arguments];

    public static string Describe(string command, IReadOnlyList<string> arguments) => $"{command} {string.Join(' ', arguments)}";

    internal static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // it exited between the check and the kill
        }
    }

    private static string Tail(string text)
    {
        var trimmed = text.Trim();
        return trimmed.Length <= 2000 ? trimmed : "…" + trimmed[^2000..];
    }
}

/// <summary>
/// A server process for the length of a measurement (the HTTP server, iperf3 -s, the daemon): started,
/// waited for until it prints a readiness line, and killed with its tree on Dispose.
/// </summary>
public sealed class BackgroundProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Lock _gate = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Func<string, bool> _isReadyLine;

    private BackgroundProcess(Process process, string description, Func<string, bool> isReadyLine)
    {
        _process = process;
        Description = description;
        _isReadyLine = isReadyLine;
    }

    public string Description { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;

    public string Output
    {
        get
        {
            lock (_gate)
                return _output.ToString();
        }
    }

    /// <summary>Starts <c>command arguments</c>; <see cref="WaitUntilReady"/> waits for a line matching <paramref name="isReadyLine"/>.</summary>
    public static BackgroundProcess Start(string command, IReadOnlyList<string> arguments, Func<string, bool> isReadyLine)
    {
        var start = new ProcessStartInfo(command)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var background = new BackgroundProcess(process, ExternalCommand.Describe(command, arguments), isReadyLine);
        process.OutputDataReceived += (_, line) => background.Append(line.Data);
        process.ErrorDataReceived += (_, line) => background.Append(line.Data);
        process.Exited += (_, _) => background._ready.TrySetException(
            new InvalidOperationException($"'{background.Description}' exited early: {background.Output.Trim()}"));
        if (!process.Start())
            throw new InvalidOperationException($"cannot start {background.Description}");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return background;
    }

    public void WaitUntilReady(TimeSpan timeout, CancellationToken cancellation)
    {
        try
        {
            _ready.Task.WaitAsync(timeout, cancellation).GetAwaiter().GetResult();
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"'{Description}' not ready within {timeout.TotalSeconds:0} s: {Output.Trim()}");
        }
    }

    public void Dispose()
    {
        ExternalCommand.Kill(_process);
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
            return;
        lock (_gate)
            _output.AppendLine(line);
        if (_isReadyLine(line))
            _ready.TrySetResult();
    }
}
