using System.Text.Json.Nodes;

namespace ProxyReplacement.Shipping.Tests.Support;

/// <summary>One object of a rendered chart: the template it came from and the object as JSON.</summary>
internal sealed record RenderedObject(string Source, JsonObject Object)
{
    public string Kind => (string)Object["kind"]!;
    public string ApiVersion => (string)Object["apiVersion"]!;
    public string Name => (string)Object["metadata"]!["name"]!;
    public override string ToString() => $"{Kind} {Name} ({Source})";
}

/// <summary>A rendered chart: the merged values, NOTES.txt and the objects.</summary>
internal sealed record RenderedChart(JsonObject Values, string Notes, IReadOnlyList<RenderedObject> Objects)
{
    public RenderedObject Single(string kind) => Objects.Single(o => o.Kind == kind);

    public IEnumerable<RenderedObject> OfKind(string kind) => Objects.Where(o => o.Kind == kind);
}

/// <summary>
/// Renders charts/proxy-replacement with tests/ChartRender (Go text/template + sprig, what Helm adds implemented
/// there), built once per test run with Debian's Go in GOPATH mode, offline.
/// </summary>
internal static class ChartRenderer
{
    private static readonly Lazy<string> Binary = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The render tool's arguments (e.g. "--set", "a=b", "-f", FILE) before the chart directory.</summary>
    public static RenderedChart Render(params string[] arguments)
    {
        var result = TryRender(arguments);
        if (result.ExitCode != 0)
            Assert.Fail($"chart-render {string.Join(' ', arguments)} failed: {result}");
        var json = JsonNode.Parse(result.Output)!.AsObject();
        var objects = json["objects"]!.AsArray()
            .Select(o => new RenderedObject((string)o!["source"]!, o["object"]!.AsObject()))
            .ToList();
        return new RenderedChart(json["values"]!.AsObject(), (string?)json["notes"] ?? "", objects);
    }

    /// <summary>Renders as JSON; the caller looks at the exit code and stderr.</summary>
    public static ToolResult TryRender(params string[] arguments) =>
        Tool.Run(Binary.Value, [.. arguments, "--output", "json", Repository.ChartDirectory]);

    /// <summary>Renders as YAML, like `helm template`.</summary>
    public static string RenderYaml(params string[] arguments)
    {
        var result = Tool.Run(Binary.Value, [.. arguments, "--output", "yaml", Repository.ChartDirectory]);
        Assert.That(result.ExitCode, Is.Zero, result.ToString);
        return result.Output;
    }

    private static string Build()
    {
        var output = Path.Combine(Path.GetTempPath(), $"prt-chart-render-{Environment.ProcessId}");
        Directory.CreateDirectory(output);
        var binary = Path.Combine(output, "chart-render");
        var go = new[] { "/usr/bin/go", "/usr/lib/go/bin/go" }.FirstOrDefault(File.Exists);
        if (go is null)
            Assert.Fail("go not found: scripts/install-deps.sh installs golang-go and golang-github-masterminds-sprig-dev");
        var result = Tool.Run(go!, ["build", "-o", binary, "./tests/ChartRender"], TimeSpan.FromMinutes(5),
            new Dictionary<string, string>
            {
                ["GO111MODULE"] = "off",
                ["GOPATH"] = "/usr/share/gocode",
                ["GOPROXY"] = "off",
                ["GOFLAGS"] = "",
                // Go's build cache, kept between runs (the renderer builds in a second when nothing changed).
                ["GOCACHE"] = "/var/cache/proxy-replacement/go-build",
            });
        if (result.ExitCode != 0)
            Assert.Fail($"building tests/ChartRender failed: {result}");
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(output, recursive: true); } catch (IOException) { }
        };
        return binary;
    }
}
