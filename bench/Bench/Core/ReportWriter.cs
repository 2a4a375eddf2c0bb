using System.Globalization;
using System.Text;

namespace ProxyReplacement.Bench.Core;

/// <summary>Renders the sections of one run as Markdown (BENCHMARKS.md).</summary>
public static class ReportWriter
{
    /// <param name="machine">Read when the run started.</param>
    /// <param name="loadAtEnd">The load averages when it ended.</param>
    public static string Render(MachineInfo machine, BenchSettings settings, IReadOnlyList<ReportSection> sections, TimeSpan duration, string loadAtEnd)
    {
        var text = new StringBuilder();
        text.AppendLine("# Benchmarks");
        text.AppendLine();
        text.AppendLine(settings.Smoke
            ? "**Smoke run** (tiny sizes; the numbers mean nothing, the run only proves the harness works)."
            : "Written by `make bench` (`bench/Bench`). Each figure is the median of the runs, with (min–max).");
        text.AppendLine();
        text.AppendLine("## Machine");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"- Kernel {machine.Kernel}; CPU {machine.Cpu}, {machine.Cores} cores; memory {machine.Memory}; {machine.Runtime}");
        text.AppendLine(CultureInfo.InvariantCulture,
            $"- Run {machine.When:yyyy-MM-dd HH:mm} UTC; {settings.Runs} runs per figure; the whole run took {duration.TotalMinutes:F1} min");
        text.AppendLine(CultureInfo.InvariantCulture,
            $"- Load average (1, 5, 15 min) at the start {machine.LoadAverage} (after waiting {machine.SettleWait.TotalSeconds:F0} s for the 1-minute figure to fall below {LoadSettler.Quiet}, at most 150 s), at the end {loadAtEnd} ({machine.Cores} cores: anything near or above that means other work shared the CPUs and the figures are noisy)");
        foreach (var section in sections)
        {
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"## {section.Title}");
            text.AppendLine();
            text.AppendLine(section.Method);
            text.AppendLine();
            var details = section.Rows.Any(row => row.Detail is not null);
            text.AppendLine(details
                ? "| case | median (min–max) | vs (same run) | ratio | target | detail |"
                : "| case | median (min–max) | vs (same run) | ratio | target |");
            text.AppendLine(details ? "|---|---|---|---|---|---|" : "|---|---|---|---|---|");
            foreach (var row in section.Rows)
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {row.Case} | {row.Value.Format()} | {row.Baseline ?? ""} | {FormatRatio(row.Ratio)} | {row.Target ?? ""} |{(details ? $" {row.Detail ?? ""} |" : "")}");
            if (section.Notes is { Count: > 0 } notes)
            {
                text.AppendLine();
                foreach (var note in notes)
                    text.AppendLine(CultureInfo.InvariantCulture, $"- {note}");
            }
        }
        return text.ToString();
    }

    private static string FormatRatio(double? ratio) => ratio switch
    {
        null => "",
        >= 100 => ratio.Value.ToString("F0", CultureInfo.InvariantCulture) + "×",
        >= 10 => ratio.Value.ToString("F1", CultureInfo.InvariantCulture) + "×",
        _ => ratio.Value.ToString("F2", CultureInfo.InvariantCulture) + "×",
    };
}
