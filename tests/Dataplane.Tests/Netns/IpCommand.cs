using System.Diagnostics;

namespace ProxyReplacement.Dataplane.Tests.Netns;

/// <summary>Runs iproute2 (and sysctl through <c>ip netns exec</c>) for test topologies.</summary>
internal static class IpCommand
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>Runs <c>ip args...</c>; throws with its stderr when it fails.</summary>
    public static string Ip(params string[] args) => Execute("ip", args);

    /// <summary>Runs a command inside a namespace: <c>ip netns exec ns command args...</c>.</summary>
    public static string InNamespace(string netns, string command, params string[] args) =>
        Execute("ip", ["netns", "exec", netns, command, .. args]);

    /// <summary>Sets a sysctl in a namespace (net.* sysctls are per namespace).</summary>
    public static void Sysctl(string netns, string key, string value) =>
        InNamespace(netns, "sysctl", "-q", "-w", $"{key}={value}");

    public static string Execute(string command, IReadOnlyList<string> args)
    {
        var start = new ProcessStartInfo(command)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
            start.ArgumentList.Add(arg);

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {command}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"'{command} {string.Join(' ', args)}' timed out after {Timeout}");
        }
        if (process.ExitCode != 0)
            throw new InvalidOperationException(
                $"'{command} {string.Join(' ', args)}' failed with exit code {process.ExitCode}: {stderr.Result.Trim()}");
        return stdout.Result;
    }
}
