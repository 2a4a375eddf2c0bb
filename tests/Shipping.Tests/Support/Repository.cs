using System.Diagnostics;
using System.Reflection;
using System.Text;

namespace ProxyReplacement.Shipping.Tests.Support;

/// <summary>Where the repository and the daemon's build are, and running a tool with its output captured.</summary>
internal static class Repository
{
    public static string Root => Metadata("RepositoryRoot");

    public static string ChartDirectory => Path.Combine(Root, "charts", "proxy-replacement");

    /// <summary>The service-proxy built with this test assembly (the project references it).</summary>
    public static string DaemonBinary
    {
        get
        {
            var path = Metadata("ServiceProxyBuildOutput");
            if (!File.Exists(path))
                Assert.Fail($"service-proxy not found at {path}: build the solution first");
            return path;
        }
    }

    private static string Metadata(string key) =>
        typeof(Repository).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == key)?.Value
        ?? throw new InvalidOperationException($"the test assembly lacks its {key} metadata");
}

/// <summary>A finished process: exit code, stdout and stderr.</summary>
internal sealed record ToolResult(int ExitCode, string Output, string Error)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Output}\n--- stderr\n{Error}";
}

internal static class Tool
{
    /// <summary>Runs FILE ARGS... to completion (or fails the test at <paramref name="timeout"/>).</summary>
    public static ToolResult Run(string file, IEnumerable<string> arguments, TimeSpan? timeout = null,
        IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Repository.Root,
        };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            start.Environment[name] = value;
        using var process = new Process { StartInfo = start };
        var output = new StringBuilder();
        var error = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (error) error.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var limit = timeout ?? TimeSpan.FromMinutes(2);
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Assert.Fail($"{file} {string.Join(' ', start.ArgumentList)} did not finish within {limit.TotalSeconds:0} s\n{output}\n{error}");
        }
        process.WaitForExit();
        lock (output)
            lock (error)
                return new ToolResult(process.ExitCode, output.ToString(), error.ToString());
    }
}
