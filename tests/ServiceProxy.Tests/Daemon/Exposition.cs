using System.Globalization;

namespace ProxyReplacement.ServiceProxy.Tests.Daemon;

/// <summary>A Prometheus text exposition, parsed: the type of each family and every sample line.</summary>
public sealed class Exposition
{
    public Exposition(string text)
    {
        Text = text;
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                Types[parts[2]] = parts[3];
            }
            else if (!line.StartsWith('#'))
            {
                Samples.Add(line);
            }
        }
    }

    public string Text { get; }
    public Dictionary<string, string> Types { get; } = new(StringComparer.Ordinal);
    public List<string> Samples { get; } = [];

    /// <summary>The family a series belongs to (a histogram's _bucket/_count/_sum belong to the histogram).</summary>
    public string? FamilyOf(string series)
    {
        if (Types.ContainsKey(series))
            return series;
        foreach (var suffix in new[] { "_bucket", "_count", "_sum" })
            if (series.EndsWith(suffix, StringComparison.Ordinal) && Types.TryGetValue(series[..^suffix.Length], out var type) && type == "histogram")
                return series[..^suffix.Length];
        return null;
    }

    /// <summary>Whether a sample of the series (any labels) is exposed.</summary>
    public bool HasSample(string series) =>
        Samples.Any(line => line.StartsWith(series + " ", StringComparison.Ordinal) || line.StartsWith(series + "{", StringComparison.Ordinal));

    /// <summary>The value of the sample written exactly as <paramref name="seriesWithLabels"/>.</summary>
    public double? Value(string seriesWithLabels)
    {
        var line = Samples.FirstOrDefault(sample => sample.StartsWith(seriesWithLabels + " ", StringComparison.Ordinal));
        return line is null ? null : double.Parse(line[(seriesWithLabels.Length + 1)..], CultureInfo.InvariantCulture);
    }
}
