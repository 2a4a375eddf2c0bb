using ProxyReplacement.ServiceProxy.Options;

namespace ProxyReplacement.ServiceProxy.Cli;

/// <summary>
/// <c>service-proxy run --validate-config FILE</c>: reads FILE exactly as <c>run --config FILE</c> does (same keys,
/// same value parsers, same cross-option rules) and exits without starting anything: 0 and "config OK" when it is
/// valid, 2 and what is wrong (an <see cref="OptionException"/>, printed by the caller) when not. The paths that only
/// the target node has (the manifest directory, the cgroup) are reported but not required to exist here, so a
/// config rendered for a cluster (the Helm chart's ConfigMap) can be checked anywhere, e.g. in CI.
/// </summary>
public static class ValidateConfigCommand
{
    public const string Flag = "--validate-config";

    /// <summary>True when the arguments of <c>run</c> ask for validation only.</summary>
    public static bool IsRequested(IReadOnlyList<string> runArguments) =>
        runArguments.Any(a => a == Flag || a.StartsWith(Flag + "=", StringComparison.Ordinal));

    /// <summary>Validates; returns the exit code (0). Throws <see cref="OptionException"/> for an invalid config.</summary>
    public static int Run(IReadOnlyList<string> runArguments, TextWriter output)
    {
        var path = ConfigPath(runArguments);
        var options = ProxyOptionsBuilder.ApplyConfigFile(new ProxyOptions(), path);
        options = ProxyOptionsBuilder.Validate(options, checkHostPaths: false);

        output.WriteLine($"config OK: {path}");
        foreach (var note in HostPathNotes(options))
            output.WriteLine($"  {note}");
        return 0;
    }

    private static string ConfigPath(IReadOnlyList<string> arguments)
    {
        string? path = null;
        for (var i = 0; i < arguments.Count; i++)
        {
            var argument = arguments[i];
            if (argument.StartsWith(Flag + "=", StringComparison.Ordinal))
                path = argument[(Flag.Length + 1)..];
            else if (argument == Flag)
                path = i + 1 < arguments.Count ? arguments[++i] : throw new OptionException(Flag, "needs a FILE");
            else
                throw new OptionException(argument, $"not used with {Flag}: the file alone is checked (flags are checked by run itself)");
        }
        return string.IsNullOrEmpty(path) ? throw new OptionException(Flag, "needs a FILE") : path;
    }

    /// <summary>What run checks on the node itself and this check leaves out, when the path is missing here.</summary>
    private static IEnumerable<string> HostPathNotes(ProxyOptions options)
    {
        if (options.ManifestDir is { } dir && !Directory.Exists(dir))
            yield return $"manifestDir {dir}: does not exist here (run checks it on the node)";
        if (options.CgroupPath is { } cgroup && !File.Exists(Path.Combine(cgroup, "cgroup.procs")))
            yield return $"cgroupPath {cgroup}: not a cgroup v2 directory here (run checks it on the node)";
    }
}
