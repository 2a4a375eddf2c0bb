using System.Reflection;

namespace ProxyReplacement.E2E.Tests.Support;

/// <summary>Finds the service-proxy executable the tests run.</summary>
internal static class DaemonBinary
{
    /// <summary>Overrides the search, e.g. to test an installed or published build.</summary>
    public const string OverrideVariable = "PR_SERVICE_PROXY";

    /// <summary>
    /// In order: <c>$PR_SERVICE_PROXY</c>; the daemon built together with this test assembly (the project
    /// references it, so it matches the sources under test); <c>&lt;repo&gt;/bin/service-proxy</c> from
    /// <c>make build</c>. Fails the test with what to do when none exists.
    /// </summary>
    public static string Locate()
    {
        var candidates = new List<string>();
        var fromEnvironment = Environment.GetEnvironmentVariable(OverrideVariable);
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            if (!File.Exists(fromEnvironment))
                Assert.Fail($"{OverrideVariable}={fromEnvironment} does not exist");
            return Path.GetFullPath(fromEnvironment);
        }
        if (Metadata("ServiceProxyBuildOutput") is { } buildOutput)
            candidates.Add(buildOutput);
        candidates.Add(Path.Combine(RepositoryRoot, "bin", "service-proxy"));

        var found = candidates.FirstOrDefault(File.Exists);
        if (found is null)
            Assert.Fail($"service-proxy not found (looked at {string.Join(", ", candidates)}): run `make build` in {RepositoryRoot}");
        return found!;
    }

    public static string RepositoryRoot =>
        Metadata("RepositoryRoot") ?? throw new InvalidOperationException("the test assembly lacks its RepositoryRoot metadata");

    private static string? Metadata(string key) =>
        typeof(DaemonBinary).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(attribute => attribute.Key == key)?.Value;
}
