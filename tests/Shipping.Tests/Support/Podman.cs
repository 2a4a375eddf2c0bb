using System.Text.Json.Nodes;

namespace ProxyReplacement.Shipping.Tests.Support;

/// <summary>
/// A private podman (scripts/lib/podman.sh: runc, cgroupfs, its own storage under a prt-podman-* state directory)
/// with the image built from the Dockerfile by scripts/image-build.sh. Dispose removes every container and image,
/// the state directory and the libpod_parent cgroups podman leaves in every hierarchy.
/// </summary>
internal sealed class Podman : IDisposable
{
    public const string Tag = "localhost/proxy-replacement:test";

    private Podman(string state) => State = state;

    public string State { get; }

    /// <summary>How long the build took (bases from the cache or debootstrap, import, podman build).</summary>
    public TimeSpan BuildTime { get; private set; }

    /// <summary>What a machine lacks to build and run the image, or null.</summary>
    public static string? MissingTool() =>
        new[] { "podman", "runc", "debootstrap", "bash" }.FirstOrDefault(tool =>
            !new[] { "/usr/bin", "/usr/sbin", "/bin", "/sbin" }.Any(dir => File.Exists(Path.Combine(dir, tool))));

    /// <summary>Builds the image (at most 15 minutes); on failure removes what the build left.</summary>
    public static Podman Build()
    {
        var podman = new Podman(Directory.CreateTempSubdirectory("prt-podman-").FullName);
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var result = Tool.Run("bash", ["scripts/image-build.sh", "--tag", Tag], TimeSpan.FromMinutes(15), podman.Environment);
            podman.BuildTime = clock.Elapsed;
            if (result.ExitCode != 0)
                Assert.Fail($"scripts/image-build.sh failed: {result}");
            TestContext.Progress.WriteLine($"image built in {podman.BuildTime.TotalSeconds:0} s:\n{result.Error}");
            return podman;
        }
        catch
        {
            podman.Dispose();
            throw;
        }
    }

    private Dictionary<string, string> Environment => new() { ["PR_PODMAN_STATE"] = State };

    /// <summary>podman ARGS... with the private state; the result, whatever the exit code.</summary>
    public ToolResult Run(IEnumerable<string> arguments, TimeSpan? timeout = null) =>
        Tool.Run("bash", ["-c", ". scripts/lib/podman.sh && pm \"$@\"", "pm", .. arguments], timeout, Environment);

    /// <summary>podman ARGS..., failing the test unless it exits 0; its stdout.</summary>
    public string Check(params string[] arguments)
    {
        var result = Run(arguments);
        Assert.That(result.ExitCode, Is.Zero, () => $"podman {string.Join(' ', arguments)}: {result}");
        return result.Output.Trim();
    }

    public JsonObject Inspect(string what) => JsonNode.Parse(Check("inspect", what))!.AsArray()[0]!.AsObject();

    public void Dispose()
    {
        var result = Tool.Run("bash", ["-c", ". scripts/lib/podman.sh && pm_teardown"], TimeSpan.FromMinutes(3), Environment);
        if (result.ExitCode != 0 || Directory.Exists(State))
            TestContext.Progress.WriteLine($"podman teardown of {State} incomplete: {result}");
    }
}
