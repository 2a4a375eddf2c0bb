using System.Globalization;
using System.Runtime.InteropServices;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Suites;

namespace ProxyReplacement.Bench;

/// <summary>
/// <c>proxy-bench [--smoke] [--runs N] [--only a,b] [--report FILE] [--cgroup-root DIR] [--packet-services N,N,...]</c>: runs the benchmark suites and
/// writes the Markdown report. Needs root (BPF, network namespaces). Ctrl-C or SIGTERM stops the run
/// between measurements; every suite then removes what it made before the process exits.
/// </summary>
public static class Program
{
    /// <summary>Every suite, in report order.</summary>
    private static IReadOnlyList<IBenchSuite> AllSuites() =>
    [
        new PacketSuite(),
        new NewFlowStepsSuite(),
        new HostPacketSuite(),
        new PolicySuite(),
        new ControlPlaneSuite(),
        new ControlPlaneOursSuite(),
        new EndToEndSuite(),
        new SocketHookSuite(),
        new NodePortEndToEndSuite(),
        new MultiNodeEndToEndSuite(),
        new PolicyEndToEndSuite(),
        new MemorySuite(),
        new ApiSourceSuite(),
        new ChurnSoakSuite(),
        new ProgrammingLatencySuite(),
    ];

    public static int Main(string[] args)
    {
        var settings = BenchSettings.Full;
        int? runs = null;
        string? report = null;
        string? cgroupRoot = null;
        int[]? packetServices = null;
        int[]? latencyServices = null;
        HashSet<string>? only = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--smoke":
                    settings = BenchSettings.SmokeTest;
                    break;
                case "--runs" when i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var count) && count > 0:
                    runs = count;
                    i++;
                    break;
                case "--only" when i + 1 < args.Length:
                    only = args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
                    break;
                case "--report" when i + 1 < args.Length:
                    report = args[++i];
                    break;
                case "--cgroup-root" when i + 1 < args.Length:
                    cgroupRoot = args[++i];
                    break;
                case "--packet-services" when i + 1 < args.Length && TryParseCounts(args[i + 1], out var counts):
                    packetServices = counts;
                    i++;
                    break;
                case "--latency-services" when i + 1 < args.Length && TryParseCounts(args[i + 1], out var sizes):
                    latencyServices = sizes;
                    i++;
                    break;
                default:
                    Console.Error.WriteLine($"proxy-bench: unknown or incomplete argument '{args[i]}'");
                    Console.Error.WriteLine("usage: proxy-bench [--smoke] [--runs N] [--only SUITE,...] [--report FILE] [--cgroup-root DIR] [--packet-services N,N,...] [--latency-services N,N,...]");
                    return 2;
            }
        }
        if (runs is { } r)
            settings = settings with { Runs = r };
        if (cgroupRoot is not null)
            settings = settings with { Cgroup2Root = cgroupRoot };
        if (packetServices is not null)
            settings = settings with { PacketServiceCounts = packetServices };
        if (latencyServices is not null)
            settings = settings with { LatencyServiceCounts = latencyServices };

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

        using var stop = new CancellationTokenSource();
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        void Stop(PosixSignalContext signal)
        {
            signal.Cancel = true; // keep running until the suites have cleaned up
            Console.Error.WriteLine($"proxy-bench: {signal.Signal}: stopping after cleanup");
            stop.Cancel();
        }

        var context = new BenchContext(settings, Console.Error, stop.Token);
        var sections = new List<ReportSection>();
        DateTimeOffset started;
        MachineInfo machine;
        try
        {
            var settled = settings.Smoke ? TimeSpan.Zero : LoadSettler.WaitForQuiet(TimeSpan.FromSeconds(150), Console.Error, stop.Token);
            machine = MachineInfo.Read() with { SettleWait = settled };
            started = DateTimeOffset.UtcNow; // the run's duration leaves the wait out
            foreach (var suite in suites)
            {
                Console.Error.WriteLine($"== {suite.Name}");
                var suiteStarted = DateTimeOffset.UtcNow;
                sections.AddRange(suite.Run(context));
                Console.Error.WriteLine($"== {suite.Name}: done in {(DateTimeOffset.UtcNow - suiteStarted).TotalSeconds:F0} s");
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            Console.Error.WriteLine("proxy-bench: stopped; no report written");
            return 130;
        }
        catch (Exception error)
        {
            // Caught (not left unhandled) so that every suite's finally blocks have run: nothing stays behind.
            Console.Error.WriteLine($"proxy-bench: failed: {error}");
            return 1;
        }
        var markdown = ReportWriter.Render(machine, settings, sections, DateTimeOffset.UtcNow - started, MachineInfo.ReadLoadAverage());
        if (report is not null)
            File.WriteAllText(report, markdown);
        Console.Out.Write(markdown);
        return 0;
    }

    /// <summary>The Service counts of the packet suites (<c>--packet-services 1,100000</c>): positive integers.</summary>
    private static bool TryParseCounts(string text, out int[] counts)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        counts = new int[parts.Length];
        for (var k = 0; k < parts.Length; k++)
            if (!int.TryParse(parts[k], CultureInfo.InvariantCulture, out counts[k]) || counts[k] <= 0)
                return false;
        return parts.Length > 0;
    }
}
