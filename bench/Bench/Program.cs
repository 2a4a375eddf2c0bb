using System.Globalization;
using ProxyReplacement.Bench.Core;

namespace ProxyReplacement.Bench;

/// <summary>
/// <c>proxy-bench [--smoke] [--runs N] [--only a,b] [--report FILE]</c>: runs the benchmark suites and
/// writes the Markdown report. Needs root (BPF, network namespaces).
/// </summary>
public static class Program
{
    /// <summary>Every suite, in report order.</summary>
    private static IReadOnlyList<IBenchSuite> AllSuites() =>
    [
    ];

    public static int Main(string[] args)
    {
        var settings = BenchSettings.Full;
        string? report = null;
        HashSet<string>? only = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--smoke":
                    settings = BenchSettings.SmokeTest with { Runs = settings.Runs == BenchSettings.Full.Runs ? BenchSettings.SmokeTest.Runs : settings.Runs };
                    break;
                case "--runs" when i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var runs) && runs > 0:
                    settings = settings with { Runs = runs };
                    i++;
                    break;
                case "--only" when i + 1 < args.Length:
                    only = args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
                    break;
                case "--report" when i + 1 < args.Length:
                    report = args[++i];
                    break;
                default:
                    Console.Error.WriteLine($"proxy-bench: unknown or incomplete argument '{args[i]}'");
                    Console.Error.WriteLine("usage: proxy-bench [--smoke] [--runs N] [--only SUITE,...] [--report FILE]");
                    return 2;
            }
        }

        var suites = AllSuites();
        if (only is not null)
        {
            var unknown = only.Except(suites.Select(s => s.Name)).ToList();
            if (unknown.Count > 0)
            {
                Console.Error.WriteLine($"proxy-bench: unknown suite(s) {string.Join(", ", unknown)}; known: {string.Join(", ", suites.Select(s => s.Name))}");
                return 2;
            }
            suites = suites.Where(s => only.Contains(s.Name)).ToList();
        }

        var sections = new List<ReportSection>();
        foreach (var suite in suites)
        {
            Console.Error.WriteLine($"== {suite.Name}");
            sections.AddRange(suite.Run(settings, Console.Error));
        }
        var markdown = ReportWriter.Render(MachineInfo.Read(), settings, sections);
        if (report is not null)
            File.WriteAllText(report, markdown);
        Console.Out.Write(markdown);
        return 0;
    }
}
