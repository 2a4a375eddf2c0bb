using System.Globalization;

namespace ProxyReplacement.Bench.Suites.Churn;

/// <summary>A cumulative Prometheus histogram as scraped: (upper bound, cumulative count) per bucket, +Inf last.</summary>
public sealed record HistogramSnapshot(IReadOnlyList<(double UpperBound, double Count)> Buckets, double Count, double Sum)
{
    public static readonly HistogramSnapshot Empty = new([], 0, 0);

    /// <summary>The observations between <paramref name="earlier"/> and this scrape, as a histogram of their own.</summary>
    public HistogramSnapshot Since(HistogramSnapshot earlier)
    {
        var before = earlier.Buckets.ToDictionary(bucket => bucket.UpperBound, bucket => bucket.Count);
        return new HistogramSnapshot(
            Buckets.Select(bucket => (bucket.UpperBound, bucket.Count - before.GetValueOrDefault(bucket.UpperBound))).ToList(),
            Count - earlier.Count, Sum - earlier.Sum);
    }

    /// <summary>The upper bound of the bucket holding quantile <paramref name="q"/> (what Prometheus' histogram_quantile bounds); null without observations.</summary>
    public double? QuantileUpperBound(double q)
    {
        if (Count <= 0)
            return null;
        var rank = q * Count;
        foreach (var (bound, count) in Buckets)
            if (count >= rank)
                return bound;
        return double.PositiveInfinity;
    }
}

/// <summary>The Prometheus text exposition of the daemon's <c>/metrics</c>, parsed into series.</summary>
public sealed class MetricsText
{
    private readonly List<(string Name, string Labels, double Value)> _series = [];

    public static MetricsText Parse(string text)
    {
        var parsed = new MetricsText();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
                continue;
            var brace = line.IndexOf('{', StringComparison.Ordinal);
            var space = line.LastIndexOf(' ');
            if (space <= 0)
                continue;
            string name, labels;
            if (brace > 0 && brace < space)
            {
                var close = line.LastIndexOf('}');
                name = line[..brace];
                labels = line[(brace + 1)..close];
            }
            else
            {
                name = line[..space];
                labels = "";
            }
            var valueText = line[(space + 1)..];
            var value = valueText switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                _ => double.Parse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            parsed._series.Add((name, labels, value));
        }
        return parsed;
    }

    /// <summary>The sum of the series named <paramref name="name"/> whose labels contain <paramref name="label"/> (e.g. <c>map="pr_nat_fe4"</c>); null if none.</summary>
    public double? Value(string name, string? label = null)
    {
        double? sum = null;
        foreach (var (series, labels, value) in _series)
            if (series == name && (label is null || labels.Contains(label, StringComparison.Ordinal)))
                sum = (sum ?? 0) + value;
        return sum;
    }

    public HistogramSnapshot Histogram(string name)
    {
        var buckets = new List<(double, double)>();
        foreach (var (series, labels, value) in _series)
        {
            if (series != name + "_bucket")
                continue;
            var le = labels.Split(',').Select(label => label.Trim()).FirstOrDefault(label => label.StartsWith("le=", StringComparison.Ordinal));
            if (le is null)
                continue;
            var bound = le[3..].Trim('"');
            buckets.Add((bound == "+Inf" ? double.PositiveInfinity : double.Parse(bound, NumberStyles.Float, CultureInfo.InvariantCulture), value));
        }
        return buckets.Count == 0
            ? HistogramSnapshot.Empty
            : new HistogramSnapshot(buckets.OrderBy(bucket => bucket.Item1).ToList(), Value(name + "_count") ?? 0, Value(name + "_sum") ?? 0);
    }
}
