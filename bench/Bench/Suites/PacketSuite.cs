using System.Globalization;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Suites.Packet;
using ProxyReplacement.Bench.Workload;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Programs;

namespace ProxyReplacement.Bench.Suites;

/// <summary>
/// BPF per-packet cost through BPF_PROG_TEST_RUN, against the empty program measured in the same run.
/// The kernel runs a repeat-N test on one skb, so a rewriting program sees its own output from the second
/// repeat on (a DNATed packet no longer goes to the VIP); every case is therefore timed as single runs
/// (repeat 1) on fresh frames, interleaved in chunks with the empty program timed the same way, and the
/// verdict counters are checked after each run to prove each figure counted the path its label names.
/// </summary>
public sealed class PacketSuite : IBenchSuite
{
    private const int Chunk = 1024;
    private const int EndpointsPerService = 4;

    private static readonly PacketCase[] Timed = [PacketCase.Empty, PacketCase.NewFlow, PacketCase.Established, PacketCase.Reply, PacketCase.PassThrough];

    /// <summary>The counter each case must move by exactly its number of runs (none for the empty program).</summary>
    private static readonly Dictionary<PacketCase, CounterReason> Expected = new()
    {
        [PacketCase.NewFlow] = CounterReason.NatNewFlow,
        [PacketCase.Established] = CounterReason.NatEstablished,
        [PacketCase.Reply] = CounterReason.NatReverse,
        [PacketCase.PassThrough] = CounterReason.PassNoService,
    };

    public string Name => "packet";

    public IReadOnlyList<ReportSection> Run(BenchContext context)
    {
        var settings = context.Settings;
        var rows = new List<ReportRow>();
        var notes = new List<string>();
        var netBySize = new Dictionary<int, Dictionary<PacketCase, Measurement>>();
        // Every size is loaded at once and each run visits all of them, so load that comes and goes on the
        // machine falls on every size alike (the flatness rows compare sizes).
        var sizes = new List<SizeUnderTest>();
        try
        {
            foreach (var services in settings.PacketServiceCounts)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                context.Progress($"packet: {services} Services: loading and programming the maps");
                sizes.Add(SizeUnderTest.Create(services));
            }
            for (var run = 0; run < settings.Runs; run++)
                foreach (var size in sizes)
                {
                    context.Cancellation.ThrowIfCancellationRequested();
                    var (dataplane, cases) = (size.Dataplane, size.Cases);
                    var medians = TimeOneRun(dataplane, cases, settings.PacketRepeat, context.Cancellation);
                    foreach (var (c, median) in medians)
                        size.Raw[c].Add(median);
                    // Cross-check: these two do not rewrite, so one call with a large repeat is valid for them.
                    size.EmptyRepeat.Add(ProgramTiming.Run(dataplane.PassThrough, cases.PassThrough[0], settings.PacketRepeat).DurationNs);
                    size.PassRepeat.Add(RepeatedRun(dataplane, cases.PassThrough[0], settings.PacketRepeat, CounterReason.PassNoService));
                    var (established, reply) = cases.AddMirrors(dataplane);
                    size.EstablishedRepeat.Add(RepeatedRun(dataplane, established, settings.PacketRepeat, CounterReason.NatEstablished));
                    size.ReplyRepeat.Add(RepeatedRun(dataplane, reply, settings.PacketRepeat, CounterReason.NatReverse));
                    cases.RemoveMirrors(dataplane);
                    context.Progress($"packet: {size.Services} Services, run {run + 1}/{settings.Runs}: " +
                        string.Join(", ", medians.Select(pair => $"{pair.Key} {pair.Value:F0} ns")));
                }
            foreach (var size in sizes)
                notes.Add(NaiveRepeatEvidence(size.Dataplane, size.Cases, size.Services, settings.PacketRepeat));
            // PR_DATAPLANE_VARIANT=compat measures the compat build (kernels before 6.2) on a kernel that has the default one
            notes.Add($"tc_nat build measured: {sizes[0].Dataplane.Variant}.");
        }
        finally
        {
            foreach (var size in sizes)
                size.Dataplane.Dispose();
        }

        foreach (var size in sizes)
        {
            var (services, raw, emptyRepeat, passRepeat, establishedRepeat, replyRepeat) =
                (size.Services, size.Raw, size.EmptyRepeat, size.PassRepeat, size.EstablishedRepeat, size.ReplyRepeat);
            var empty = new Measurement("ns", raw[PacketCase.Empty]);
            var label = services.ToString("N0", CultureInfo.InvariantCulture) + (services == 1 ? " Service" : " Services");
            rows.Add(new ReportRow($"{label}: empty program `pr_tc_pass`", empty));
            netBySize[services] = [];
            foreach (var c in Timed.Skip(1))
            {
                var value = new Measurement("ns", raw[c]);
                var net = new Measurement("ns", raw[c].Zip(raw[PacketCase.Empty], (program, floor) => program - floor).ToArray());
                netBySize[services][c] = net;
                var target = c is PacketCase.NewFlow or PacketCase.Established ? "DNAT ≤ 150 ns (net)" : null;
                rows.Add(ReportRow.Versus($"{label}: {Describe(c)}", value, "empty", empty, target, $"net {net.Format()}"));
            }
            var emptyR = new Measurement("ns", emptyRepeat);
            var passR = new Measurement("ns", passRepeat);
            rows.Add(new ReportRow($"{label}: empty program, one call with repeat {settings.PacketRepeat:N0}", emptyR));
            foreach (var (name, samples, target) in new[]
            {
                ("established flow, one call with repeat", establishedRepeat, "DNAT ≤ 150 ns (net)"),
                ("reply, one call with repeat", replyRepeat, (string?)null),
                ("pass-through, one call with repeat", passRepeat, null),
            })
                rows.Add(ReportRow.Versus($"{label}: {name} {settings.PacketRepeat:N0} (hot)", new Measurement("ns", samples), "empty", emptyR, target,
                    $"net {new Measurement("ns", samples.Zip(emptyRepeat, (a, b) => a - b).ToArray()).Format()}"));
        }

        var smallest = settings.PacketServiceCounts.Min();
        var largest = settings.PacketServiceCounts.Max();
        if (largest != smallest)
            foreach (var c in new[] { PacketCase.NewFlow, PacketCase.Established, PacketCase.Reply })
                rows.Add(ReportRow.Versus($"flatness: {Describe(c)}, net at {largest:N0} Services", netBySize[largest][c],
                    $"net at {smallest:N0}", netBySize[smallest][c], "within ±10 % (0.90–1.10×)"));

        return
        [
            new ReportSection("BPF per-packet cost (BPF_PROG_TEST_RUN)", Method(settings), rows, notes),
        ];
    }

    /// <summary>One cluster size: its loaded, programmed dataplane, its frames and the samples of every run.</summary>
    private sealed record SizeUnderTest(int Services, CoreDataplane Dataplane, PacketCases Cases)
    {
        public Dictionary<PacketCase, List<double>> Raw { get; } = Timed.ToDictionary(c => c, _ => new List<double>());
        public List<double> EmptyRepeat { get; } = [];
        public List<double> PassRepeat { get; } = [];
        public List<double> EstablishedRepeat { get; } = [];
        public List<double> ReplyRepeat { get; } = [];

        public static SizeUnderTest Create(int services)
        {
            var dataplane = ProgrammedMaps.Load(services, EndpointsPerService);
            try
            {
                ProgrammedMaps.Program(dataplane, new SyntheticServices(services, EndpointsPerService));
                var cases = new PacketCases(services);
                cases.EstablishFlows(dataplane);
                return new SizeUnderTest(services, dataplane, cases);
            }
            catch
            {
                dataplane.Dispose();
                throw;
            }
        }
    }

    /// <summary>
    /// One run: chunks of <see cref="Chunk"/> single runs per case, the cases taking turns, until each case has
    /// <paramref name="perCase"/> runs. Returns each case's median duration, after checking the counters.
    /// </summary>
    private static Dictionary<PacketCase, double> TimeOneRun(CoreDataplane dataplane, PacketCases cases, int perCase, CancellationToken cancellation)
    {
        var histograms = Timed.ToDictionary(c => c, _ => new DurationHistogram());
        var counts = Timed.ToDictionary(c => c, _ => 0L);
        dataplane.ResetCounters();
        var newFlowIndex = 0;
        var flowIndex = 0;
        var passIndex = 0;
        for (var done = 0; done < perCase; done += Chunk)
        {
            cancellation.ThrowIfCancellationRequested();
            var size = Math.Min(Chunk, perCase - done);
            if (newFlowIndex + size > cases.NewFlows.Length)
            {
                cases.ForgetNewFlows(dataplane);
                newFlowIndex = 0;
            }
            foreach (var c in Timed)
            {
                var histogram = histograms[c];
                for (var i = 0; i < size; i++)
                {
                    var run = c switch
                    {
                        PacketCase.Empty => ProgramTiming.Run(dataplane.PassThrough, cases.PassThrough[(passIndex + i) % cases.PassThrough.Length]),
                        PacketCase.NewFlow => ProgramTiming.Run(dataplane.FromWorkload, cases.NewFlows[newFlowIndex + i]),
                        PacketCase.Established => ProgramTiming.Run(dataplane.FromWorkload, cases.Established[(flowIndex + i) % PacketCases.FlowCount]),
                        PacketCase.Reply => ProgramTiming.Run(dataplane.FromWorkload, cases.Replies[(flowIndex + i) % PacketCases.FlowCount]),
                        _ => ProgramTiming.Run(dataplane.FromWorkload, cases.PassThrough[(passIndex + i) % cases.PassThrough.Length]),
                    };
                    if (run.ReturnValue != 0)
                        throw new InvalidOperationException($"{c}: the program returned {run.ReturnValue}, not TC_ACT_OK");
                    histogram.Add(run.DurationNs);
                }
                counts[c] += size;
            }
            newFlowIndex += size;
            flowIndex += size;
            passIndex += size;
        }
        cases.ForgetNewFlows(dataplane);
        VerifyCounters(dataplane.ReadCounters(), counts);
        return histograms.ToDictionary(pair => pair.Key, pair => pair.Value.Median());
    }

    /// <summary>One call with a large repeat; the counters must show that every repeat took <paramref name="path"/>.</summary>
    private static double RepeatedRun(CoreDataplane dataplane, byte[] frame, int repeat, CounterReason path)
    {
        dataplane.ResetCounters();
        var run = ProgramTiming.Run(dataplane.FromWorkload, frame, repeat);
        var counters = dataplane.ReadCounters();
        var moved = counters.Where(pair => pair.Value > 0).ToList();
        if (run.ReturnValue != 0 || moved.Count != 1 || moved[0].Key != path || moved[0].Value != (ulong)repeat)
            throw new InvalidOperationException($"repeat {repeat} on the {path} frame: return {run.ReturnValue}, counters " +
                string.Join(", ", moved.Select(pair => $"{pair.Key}={pair.Value}")));
        return run.DurationNs;
    }

    /// <summary>Each case's counter moved by exactly its number of runs, and nothing else moved (no drop, no expiry, no failed insert).</summary>
    private static void VerifyCounters(IReadOnlyDictionary<CounterReason, ulong> counters, Dictionary<PacketCase, long> counts)
    {
        var expected = Expected.ToDictionary(pair => pair.Value, pair => (ulong)counts[pair.Key]);
        // every synthetic Service is a plain ClusterIP with 4 backends: each new flow is balanced from its fast-path slot
        expected[CounterReason.NatDirect] = (ulong)counts[PacketCase.NewFlow];
        var wrong = counters
            .Where(pair => pair.Value != expected.GetValueOrDefault(pair.Key))
            .Select(pair => $"{pair.Key}={pair.Value} (expected {expected.GetValueOrDefault(pair.Key)})")
            .ToList();
        if (wrong.Count > 0)
            throw new InvalidOperationException("the verdict counters do not match what was timed: " + string.Join(", ", wrong));
    }

    /// <summary>
    /// What a naive measurement would report: one call with a large repeat on a new-flow frame. The counters
    /// show that only the first repeat was a new flow; the rest ran on the already DNATed skb.
    /// </summary>
    private static string NaiveRepeatEvidence(CoreDataplane dataplane, PacketCases cases, int services, int repeat)
    {
        dataplane.ResetCounters();
        var run = ProgramTiming.Run(dataplane.FromWorkload, cases.NewFlows[0], repeat);
        var counters = dataplane.ReadCounters().Where(pair => pair.Value > 0)
            .Select(pair => $"{ServiceProxy.Daemon.ProxyMetrics.SnakeCase(pair.Key.ToString())}={pair.Value:N0}");
        cases.ForgetNewFlows(dataplane);
        return $"{services:N0} Service{(services == 1 ? "" : "s")}: one call with repeat {repeat:N0} on a new-flow SYN reports {run.DurationNs} ns per run, " +
            $"but the counters read {string.Join(", ", counters)}: only the first repeat was a new flow (the kernel re-runs the same, " +
            "already DNATed skb), so that figure is the pass-through path, not DNAT. Not used.";
    }

    private static string Describe(PacketCase c) => c switch
    {
        PacketCase.NewFlow => "new flow (frontend + backend lookup, conntrack pair created, DNAT)",
        PacketCase.Established => "established flow (conntrack hit, DNAT)",
        PacketCase.Reply => "reply (reverse conntrack hit, reverse NAT)",
        PacketCase.PassThrough => "pass-through (no Service: conntrack, frontend and CIDR miss)",
        _ => "empty program",
    };

    private static string Method(BenchSettings settings) =>
        $"`pr_tc_from_wl` (the TC program the daemon attaches to pod veths) run by BPF_PROG_TEST_RUN on Ethernet frames, " +
        $"with the maps holding N Services × {EndpointsPerService} backends programmed through the Syncer, and the Service CIDR " +
        $"10.96.0.0/12 in `pr_svc_cidr4`. The kernel runs a test with repeat N on *one* skb: once the first repeat has DNATed it, " +
        "the packet no longer goes to the VIP, so a repeat-N \"new flow\" is one new flow and N−1 pass-throughs (shown in the notes, " +
        "from the counters). So every figure here is the kernel-reported duration of single runs (repeat 1) on fresh frames: " +
        $"{settings.PacketRepeat:N0} per case per run, in chunks of {Chunk} with the cases taking turns, and the empty program " +
        "`pr_tc_pass` timed the same way in the same chunks. All sizes are loaded at once and every run visits each of them, so load " +
        "that comes and goes on the machine falls on all sizes alike. A run's figure is the median of its single-run durations (immune to the " +
        "runs an interrupt lands in). A single run's duration includes the harness's fixed cost (two clock reads, BH disable/enable), " +
        "which the empty program shows; **net** = program − empty, per run, is the program's own cost. Every frame goes to a Service " +
        $"chosen at random among all N (so lookups touch as many hash buckets as there are Services). New flows use a pool of " +
        $"{PacketCases.NewFlowPool:N0} distinct 5-tuples whose conntrack pairs are deleted (untimed) before the pool is reused, so each " +
        $"new-flow run really creates a pair and the table stays far from full; established and reply frames belong to " +
        $"{PacketCases.FlowCount:N0} flows opened beforehand (SYN, then the backend's SYN-ACK). After every run the per-reason counters " +
        "(`pr_counters`) must have moved by exactly the number of runs of each case (new_flow, established, reverse, pass_no_service), " +
        "nat_direct by the number of new flows (each is balanced from its ClusterIP fast-path slot, `pr_nat_direct4`, as the daemon's " +
        "defaults make it: the Syncer writes the slots, sized as `--direct-table-size auto` for 10.96.0.0/12, 262,144), " +
        "and nothing else (no drop, expiry or failed insert), otherwise the run fails.\n\n" +
        "Single runs on fresh frames are *cold-ish*: the syscall, skb allocation and copy between two runs evict much of what the " +
        "program touches, which the tiny empty program hardly feels. The **(hot)** rows time back-to-back repeats in one call where " +
        "that is valid: pass-through does not rewrite; for the established and reply paths, two mirror conntrack entries written " +
        "from user space map the rewritten packet back (VIP→backend, then backend→VIP, ...), so every repeat is again a conntrack " +
        "hit and a rewrite, and the counters must show exactly `repeat` established (resp. reverse) verdicts. A new flow cannot be " +
        "repeated on one skb (its second run finds the conntrack entry the first one made), so it has only the single-run figure. " +
        "The truth for a busy node lies between the two: back-to-back packets through the stack keep part of the cache warm.";
}
