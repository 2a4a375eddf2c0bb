using System.Diagnostics;
using System.Text;

namespace ProxyReplacement.E2E.Tests.Support;

/// <summary>
/// One <c>service-proxy run</c> process inside a network namespace (<c>ip netns exec NS service-proxy run ...</c>;
/// <c>ip netns exec</c> execs the command, so the pid is the daemon's). Its stdout and stderr are captured
/// line by line for the test output. Dispose kills it if it still runs.
/// </summary>
internal sealed class DaemonProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Lock _outputLock = new();

    private DaemonProcess(Process process, string commandLine, string label)
    {
        _process = process;
        CommandLine = commandLine;
        Label = label;
    }

    public string CommandLine { get; }

    /// <summary>Names this instance in the test output ("daemon #1", "daemon #2" after a restart).</summary>
    public string Label { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Everything it printed so far, stderr lines as they came, stdout lines prefixed with "[stdout]".</summary>
    public string Output
    {
        get
        {
            lock (_outputLock)
                return _output.ToString();
        }
    }

    public static DaemonProcess Start(string binary, string netns, IReadOnlyList<string> arguments, string label)
    {
        var start = new ProcessStartInfo("ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])["netns", "exec", netns, binary, .. arguments])
            start.ArgumentList.Add(argument);

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var daemon = new DaemonProcess(process, $"ip netns exec {netns} {binary} {string.Join(' ', arguments)}", label);
        process.ErrorDataReceived += (_, line) => daemon.Append(line.Data, null);
        process.OutputDataReceived += (_, line) => daemon.Append(line.Data, "[stdout] ");
        if (!process.Start())
            throw new InvalidOperationException($"cannot start {daemon.CommandLine}");
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        return daemon;
    }

    /// <summary>SIGTERM, then waits for the exit; returns the exit code. Fails the test if it does not stop in time.</summary>
    public int Terminate(TimeSpan timeout) => Stop(Signals.SigTerm, timeout);

    /// <summary>SIGKILL (a crash: nothing of the daemon's shutdown runs), then waits for the exit; returns the exit code.</summary>
    public int Kill(TimeSpan timeout) => Stop(Signals.SigKill, timeout);

    private int Stop(int signal, TimeSpan timeout)
    {
        if (!_process.HasExited)
            Signals.Send(_process.Id, signal);
        if (!_process.WaitForExit(timeout))
            Assert.Fail($"{Label} did not exit within {timeout.TotalSeconds:0} s of signal {signal}");
        _process.WaitForExit(); // drains the asynchronous output readers
        return _process.ExitCode;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(TimeSpan.FromSeconds(10));
            }
        }
        catch (InvalidOperationException)
        {
            // It exited between the check and the kill.
        }
        _process.Dispose();
    }

    private void Append(string? line, string? prefix)
    {
        if (line is null)
            return;
        lock (_outputLock)
            _output.Append(prefix).AppendLine(line);
    }
}
