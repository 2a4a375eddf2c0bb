namespace ProxyReplacement.Bench.Core;

/// <summary>
/// One row: a case, its figure, and optionally its ratio against a baseline measured in the same run,
/// the target beside it (tracked, not pass/fail) and a detail (e.g. the net cost of a program).
/// </summary>
public sealed record ReportRow(string Case, Measurement Value, string? Baseline = null, double? Ratio = null, string? Target = null,
    string? Detail = null)
{
    /// <summary>A row whose ratio is its median over the baseline's median (both from the same run).</summary>
    public static ReportRow Versus(string @case, Measurement value, string baselineName, Measurement baseline, string? target = null,
        string? detail = null) =>
        new(@case, value, $"{baselineName} {baseline.Format()}", value.Median / baseline.Median, target, detail);
}

/// <summary>A section of BENCHMARKS.md: a heading, how it was measured, and its rows.</summary>
public sealed record ReportSection(string Title, string Method, IReadOnlyList<ReportRow> Rows, IReadOnlyList<string>? Notes = null);

/// <summary>What every suite gets: the sizes, where progress goes, and the Ctrl-C / SIGTERM token.</summary>
public sealed record BenchContext(BenchSettings Settings, TextWriter Log, CancellationToken Cancellation)
{
    public void Progress(string line) => Log.WriteLine($"  {DateTime.Now:HH:mm:ss} {line}");
}

/// <summary>A group of benchmarks that can run on its own (<c>proxy-bench --only NAME</c>).</summary>
public interface IBenchSuite
{
    /// <summary>Short name used by <c>--only</c>, e.g. <c>packet</c>.</summary>
    string Name { get; }

    /// <summary>Runs the suite. Cleans up every kernel object and process it made, also when cancelled or failing.</summary>
    IReadOnlyList<ReportSection> Run(BenchContext context);
}
