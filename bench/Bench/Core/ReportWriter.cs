using System.Globalization;
using System.Text;

namespace ProxyReplacement.Bench.Core;

/// <summary>Renders the sections of one run as Markdown (BENCHMARKS.md).</summary>
public static class ReportWriter
{
    public static string Render(MachineInfo machine, BenchSettings settings, IReadOnlyList<ReportSection> sections)
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
            $"- Run {machine.When:yyyy-MM-dd HH:mm} UTC; {settings.Runs} runs per figure");
        foreach (var section in sections)
        {
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"## {section.Title}");
            text.AppendLine();
            text.AppendLine(section.Method);
            text.AppendLine();
            text.AppendLine("| case | median (min–max) | vs | ratio | target |");
            text.AppendLine("|---|---|---|---|---|");
            foreach (var row in section.Rows)
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {row.Case} | {row.Value.Format()} | {row.Baseline ?? ""} | {(row.Ratio is { } r ? r.ToString("F2", CultureInfo.InvariantCulture) + "×" : "")} | {row.Target ?? ""} |");
            if (section.Notes is { Count: > 0 } notes)
            {
                text.AppendLine();
                foreach (var note in notes)
                    text.AppendLine(CultureInfo.InvariantCulture, $"- {note}");
            }
        }
        return text.ToString();
    }
}
