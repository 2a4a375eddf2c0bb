namespace ProxyReplacement.Bench.Core;

/// <summary>
/// One figure of the report: the samples of repeated runs (one value per run) and their median,
/// min and max. Every figure in the report is a median over at least <see cref="BenchSettings.Runs"/> runs.
/// </summary>
public sealed record Measurement(string Unit, IReadOnlyList<double> Samples)
{
    public double Median => Percentile(0.5);
    public double Min => Samples.Min();
    public double Max => Samples.Max();

    /// <summary>Nearest-rank percentile over the samples (p in 0..1).</summary>
    public double Percentile(double p)
    {
        if (Samples.Count == 0)
            throw new InvalidOperationException("a measurement without samples");
        var sorted = Samples.Order().ToArray();
        if (p == 0.5 && sorted.Length % 2 == 0)
            return (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        var rank = (int)Math.Ceiling(p * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }

    /// <summary>Runs <paramref name="run"/> <paramref name="runs"/> times and keeps each result.</summary>
    public static Measurement Repeat(string unit, int runs, Func<int, double> run) =>
        new(unit, Enumerable.Range(0, runs).Select(run).ToArray());

    public string Format() => $"{Number(Median)} {Unit} ({Number(Min)}–{Number(Max)})";

    /// <summary>Four significant digits, without exponents; thousands separated by a thin space.</summary>
    public static string Number(double value)
    {
        var magnitude = Math.Abs(value);
        var text = magnitude >= 1000
            ? Math.Round(value).ToString("#,0", System.Globalization.CultureInfo.InvariantCulture).Replace(",", "\u2009", StringComparison.Ordinal)
            : value.ToString(magnitude >= 100 ? "0" : magnitude >= 10 ? "0.#" : "0.##", System.Globalization.CultureInfo.InvariantCulture);
        return text;
    }
}
