using System.Diagnostics;
using System.Globalization;
using System.Text;
using ProxyReplacement.Bench.Core;

namespace ProxyReplacement.Bench.Suites.Churn;

/// <summary>One reading of the soaked daemon, <see cref="Seconds"/> after the first change (negative: before the churn).</summary>
public sealed record SoakSample(
    double Seconds,
    long RssKib,
    long RssAnonKib,
    long RssFileKib,
    long RssShmemKib,
    double? GcHeapBytes,
    double? Gen0,
    double? Gen1,
    double? Gen2,
    double? CpuSeconds,
    HistogramSnapshot Programming,
    double? FrontendEntries,
    double? BackendEntries,
    double? Threads,
    double? OpenFds,
    double? SyncProblems,
    long ChangesMade,
    long Reloads,
    double Load1);

/// <summary>One period (a minute in the real run) of the soak, aggregated from the samples and the sync lines in it.</summary>
public sealed record SoakPeriod(
    int Number,
    double From,
    double To,
    Measurement? Rss,
    Measurement? GcHeap,
    double? Gen2Collections,
    double RssAnonMib,
    double RssFileMib,
    double RssShmemMib,
    double? CpuPercent,
    IReadOnlyList<double> Triggered,
    IReadOnlyList<double> Full,
    double? ProgrammingP99,
    long Changes,
    long Reloads,
    double? FrontendEntries,
    double? BackendEntries,
    double Load1)
{
    public double? TriggeredP(double p) => Triggered.Count == 0 ? null : new Measurement("ms", Triggered).Percentile(p);
    public double? FullMax => Full.Count == 0 ? null : Full.Max();
}

/// <summary>
/// Collects the soak's samples and sync lines, then cuts them into periods: the report's table over time, the verdict
/// (flat RSS, a stable p99) and a CSV of every sample for a closer look.
/// </summary>
public sealed class SoakRecorder(long churnStarted, TimeSpan period, TimeSpan duration)
{
    private readonly List<SoakSample> _samples = [];
    private readonly List<(double Seconds, SyncLine Line)> _syncs = [];
    private readonly List<(double Seconds, long Kib)> _rss = [];

    /// <summary>A VmRSS reading between the full samples (every full sample's is one too).</summary>
    public void AddRss(double seconds, long kib) => _rss.Add((seconds, kib));

    /// <summary>Every VmRSS reading, MiB.</summary>
    public IEnumerable<double> RssMib => _rss.Select(reading => reading.Kib / 1024.0);

    public IReadOnlyList<SoakSample> Samples => _samples;

    public void Add(SoakSample sample, IEnumerable<SyncLine> syncs)
    {
        _samples.Add(sample);
        _rss.Add((sample.Seconds, sample.RssKib));
        foreach (var line in syncs)
            _syncs.Add((line.Timestamp >= churnStarted ? Stopwatch.GetElapsedTime(churnStarted, line.Timestamp).TotalSeconds
                : -Stopwatch.GetElapsedTime(line.Timestamp, churnStarted).TotalSeconds, line));
    }

    public IReadOnlyList<SyncLine> SyncsBetween(double from, double to) =>
        _syncs.Where(sync => sync.Seconds > from && sync.Seconds <= to).Select(sync => sync.Line).ToList();

    public IReadOnlyList<SoakPeriod> Periods()
    {
        var periods = new List<SoakPeriod>();
        var count = (int)Math.Ceiling(duration / period);
        var baseline = _samples.LastOrDefault(sample => sample.Seconds <= 0.5) ?? _samples.First();
        var previous = baseline;
        for (var p = 0; p < count; p++)
        {
            var from = p * period.TotalSeconds;
            var to = Math.Min(duration.TotalSeconds, (p + 1) * period.TotalSeconds);
            var inside = _samples.Where(sample => sample.Seconds > from + 0.5 && sample.Seconds <= to + 0.5).ToList();
            if (inside.Count == 0)
                continue;
            var last = inside[^1];
            var syncs = SyncsBetween(from, to);
            var elapsed = last.Seconds - previous.Seconds;
            periods.Add(new SoakPeriod(
                p + 1, from, to,
                new Measurement("MiB", _rss.Where(reading => reading.Seconds > from + 0.5 && reading.Seconds <= to + 0.5)
                    .Select(reading => reading.Kib / 1024.0).ToList()),
                inside.All(sample => sample.GcHeapBytes is not null)
                    ? new Measurement("MiB", inside.Select(sample => sample.GcHeapBytes!.Value / 1048576.0).ToList())
                    : null,
                last.Gen2 - previous.Gen2,
                new Measurement("MiB", inside.Select(sample => sample.RssAnonKib / 1024.0).ToList()).Median,
                new Measurement("MiB", inside.Select(sample => sample.RssFileKib / 1024.0).ToList()).Median,
                new Measurement("MiB", inside.Select(sample => sample.RssShmemKib / 1024.0).ToList()).Median,
                elapsed > 0 ? (last.CpuSeconds - previous.CpuSeconds) / elapsed * 100 : null,
                syncs.Where(sync => !sync.Full).Select(sync => sync.Milliseconds).ToList(),
                syncs.Where(sync => sync.Full).Select(sync => sync.Milliseconds).ToList(),
                last.Programming.Since(previous.Programming).QuantileUpperBound(0.99),
                last.ChangesMade - previous.ChangesMade,
                last.Reloads - previous.Reloads,
                last.FrontendEntries, last.BackendEntries, last.Load1));
            previous = last;
        }
        return periods;
    }

    /// <summary>The report's table over time, one row per period (Markdown).</summary>
    public string Table(IReadOnlyList<SoakPeriod> periods, bool manifestSource)
    {
        var unit = period >= TimeSpan.FromMinutes(1) && period.TotalSeconds % 60 == 0 ? "min" : "s";
        string Span(SoakPeriod p) => unit == "min"
            ? $"{Measurement.Number(p.From / 60)}–{Measurement.Number(p.To / 60)} min"
            : $"{Measurement.Number(p.From)}–{Measurement.Number(p.To)} s";
        var text = new StringBuilder();
        text.AppendLine("| period | daemon RSS, MiB | GC heap, MiB | gen2 GCs | daemon CPU | triggered syncs | sync p50 / p99 / max, ms | full resyncs, max ms | change → programmed p99 | changes made" +
                        (manifestSource ? " | directory re-reads" : "") + " | pr_nat_fe4 / pr_nat_be4 entries | load (1 min) |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|---" + (manifestSource ? "|---" : "") + "|---|---|");
        foreach (var p in periods)
        {
            text.Append(CultureInfo.InvariantCulture, $"| {Span(p)} | {p.Rss?.Format().Replace(" MiB", "", StringComparison.Ordinal) ?? "–"} ");
            text.Append(CultureInfo.InvariantCulture, $"| {(p.GcHeap is { } heap ? Measurement.Number(heap.Median) : "–")} ");
            text.Append(CultureInfo.InvariantCulture, $"| {Optional(p.Gen2Collections, "F0")} | {(p.CpuPercent is { } cpu ? $"{cpu:F0} %" : "–")} ");
            text.Append(CultureInfo.InvariantCulture, $"| {p.Triggered.Count} ");
            text.Append(CultureInfo.InvariantCulture, $"| {Ms(p.TriggeredP(0.5))} / {Ms(p.TriggeredP(0.99))} / {Ms(p.Triggered.Count > 0 ? p.Triggered.Max() : null)} ");
            text.Append(CultureInfo.InvariantCulture, $"| {(p.Full.Count == 0 ? "–" : $"{p.Full.Count}, {Ms(p.FullMax)}")} ");
            text.Append(CultureInfo.InvariantCulture, $"| {Seconds(p.ProgrammingP99)} | {p.Changes:N0} ");
            if (manifestSource)
                text.Append(CultureInfo.InvariantCulture, $"| {p.Reloads} ");
            text.Append(CultureInfo.InvariantCulture, $"| {Optional(p.FrontendEntries, "N0")} / {Optional(p.BackendEntries, "N0")} | {p.Load1:F2} |\n");
        }
        return text.ToString().TrimEnd();
    }

    /// <summary>Every sample as CSV (seconds since the first change; the sync figures are those of the interval ending there).</summary>
    public void WriteCsv(string path)
    {
        var text = new StringBuilder();
        text.AppendLine("seconds,rss_mib,rss_anon_mib,rss_file_mib,rss_shmem_mib,gc_heap_mib,gen0,gen1,gen2,cpu_seconds,triggered_syncs,triggered_p50_ms,triggered_p99_ms,triggered_max_ms," +
                        "full_syncs,full_max_ms,programming_p99_le_s,fe_entries,be_entries,threads,open_fds,sync_problems,changes_made,reloads,load1");
        var previous = double.NegativeInfinity;
        foreach (var sample in _samples)
        {
            var syncs = SyncsBetween(previous, sample.Seconds);
            var triggered = syncs.Where(sync => !sync.Full).Select(sync => sync.Milliseconds).ToList();
            var full = syncs.Where(sync => sync.Full).Select(sync => sync.Milliseconds).ToList();
            var m = triggered.Count > 0 ? new Measurement("ms", triggered) : null;
            text.AppendLine(string.Join(',',
                F(sample.Seconds), F(sample.RssKib / 1024.0), F(sample.RssAnonKib / 1024.0), F(sample.RssFileKib / 1024.0), F(sample.RssShmemKib / 1024.0), F(sample.GcHeapBytes / 1048576.0), F(sample.Gen0), F(sample.Gen1), F(sample.Gen2),
                F(sample.CpuSeconds), triggered.Count.ToString(CultureInfo.InvariantCulture), F(m?.Percentile(0.5)), F(m?.Percentile(0.99)),
                F(m?.Max), full.Count.ToString(CultureInfo.InvariantCulture), F(full.Count > 0 ? full.Max() : null),
                F(sample.Programming.QuantileUpperBound(0.99)), F(sample.FrontendEntries), F(sample.BackendEntries), F(sample.Threads),
                F(sample.OpenFds), F(sample.SyncProblems), sample.ChangesMade.ToString(CultureInfo.InvariantCulture),
                sample.Reloads.ToString(CultureInfo.InvariantCulture), F(sample.Load1)));
            previous = sample.Seconds;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text.ToString());
    }

    /// <summary>Theil–Sen slope (the median of the pairwise slopes: one outlier does not tilt it) of (x, y), per unit of x.</summary>
    public static double? TheilSen(IReadOnlyList<(double X, double Y)> points)
    {
        var slopes = new List<double>();
        for (var i = 0; i < points.Count; i++)
            for (var j = i + 1; j < points.Count; j++)
                if (points[j].X != points[i].X)
                    slopes.Add((points[j].Y - points[i].Y) / (points[j].X - points[i].X));
        return slopes.Count == 0 ? null : new Measurement("", slopes).Median;
    }

    private static string F(double? value) =>
        value is { } v && !double.IsNaN(v) ? (double.IsPositiveInfinity(v) ? "inf" : v.ToString("0.###", CultureInfo.InvariantCulture)) : "";

    private static string Optional(double? value, string format) => value is { } v ? v.ToString(format, CultureInfo.InvariantCulture) : "–";

    private static string Ms(double? value) => value is { } v ? Measurement.Number(v) : "–";

    private static string Seconds(double? upperBound) => upperBound switch
    {
        null => "–",
        { } v when double.IsPositiveInfinity(v) => "> 300 s",
        { } v => string.Create(CultureInfo.InvariantCulture, $"≤ {Measurement.Number(v)} s"),
    };
}
