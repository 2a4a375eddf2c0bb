namespace ProxyReplacement.Bench.Core;

/// <summary>One row: a case, its figure, and optionally its ratio against a baseline measured in the same run.</summary>
public sealed record ReportRow(string Case, Measurement Value, string? Baseline = null, double? Ratio = null, string? Target = null);

/// <summary>A section of BENCHMARKS.md: a heading, how it was measured, and its rows.</summary>
public sealed record ReportSection(string Title, string Method, IReadOnlyList<ReportRow> Rows, IReadOnlyList<string>? Notes = null);

/// <summary>A group of benchmarks that can run on its own (<c>proxy-bench --only NAME</c>).</summary>
public interface IBenchSuite
{
    /// <summary>Short name used by <c>--only</c>, e.g. <c>packet</c>.</summary>
    string Name { get; }

    /// <summary>Runs the suite; progress goes to <paramref name="log"/>. Cleans up every kernel object it made.</summary>
    IReadOnlyList<ReportSection> Run(BenchSettings settings, TextWriter log);
}
