using System.Net;
using System.Reflection;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Suites.Packet;
using ProxyReplacement.Bench.Suites.Policy;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.Dataplane.Programs;

namespace ProxyReplacement.Bench.Suites;

/// <summary>
/// NetworkPolicy per-packet cost through BPF_PROG_TEST_RUN: the two representations considered (compiled LPM tries,
/// the chosen one; a rule table walked by a bounded loop) at 1 and 500 rules in a bench-only object, and the chosen
/// one in the real program (<c>pr_tc_to_wl</c>) at 0, 10 and 500 rules against a pod without policy. Every figure is
/// the median of single runs on fresh SYNs (distinct 5-tuples), interleaved with the empty program, as the packet suite
/// times its new flows; the counters prove each run took the path its row names.
/// </summary>
public sealed class PolicySuite : IBenchSuite
{
    private const int Chunk = 1024;
    private const int Pool = 16_384;
    private const int ForwardedFromIfindex = 7;
    private const uint DenyAllSet = 10;
    private const uint TenRulesSet = 11;
    private const uint FiveHundredRulesSet = 12;
    private const uint OneRuleSet = 13;
    private static readonly IPAddress NoPolicyPod = IPAddress.Parse("10.201.2.2");
    private static readonly IPAddress DenyAllPod = IPAddress.Parse("10.201.3.2");
    private static readonly IPAddress TenRulesPod = IPAddress.Parse("10.201.4.2");
    private static readonly IPAddress FiveHundredRulesPod = IPAddress.Parse("10.201.5.2");
    private static readonly string[] OwnMaps = ["pr_bench_rules", "pr_bench_config", "pr_bench_pol_verdicts"];

    private enum Case { Empty, NoPolicy, ZeroRules, TenRules, FiveHundredRules, Lpm1, Lpm500, Loop1, Loop500 }

    /// <summary>Per case: the rule the SYNs match, the pod they go to, the loop/LPM configuration, the verdict expected.</summary>
    private sealed record CaseSetup(int Rule, IPAddress Pod, BenchConfig Config, int ReturnValue);

    private static readonly Dictionary<Case, CaseSetup> Setups = new()
    {
        [Case.Empty] = new(499, FiveHundredRulesPod, default, 0),
        [Case.NoPolicy] = new(9, NoPolicyPod, default, 0),
        [Case.ZeroRules] = new(9, DenyAllPod, default, 2),
        [Case.TenRules] = new(9, TenRulesPod, default, 0),
        [Case.FiveHundredRules] = new(499, FiveHundredRulesPod, default, 0),
        [Case.Lpm1] = new(0, NoPolicyPod, new BenchConfig(OneRuleSet, 0), 0),
        [Case.Lpm500] = new(499, NoPolicyPod, new BenchConfig(FiveHundredRulesSet, 0), 0),
        [Case.Loop1] = new(0, NoPolicyPod, new BenchConfig(0, 1), 0),
        [Case.Loop500] = new(499, NoPolicyPod, new BenchConfig(0, 500), 0),
    };

    public string Name => "policy";

    public IReadOnlyList<ReportSection> Run(BenchContext context)
    {
        var settings = context.Settings;
        var perCase = Math.Max(Chunk, settings.PacketRepeat / 10);
        var raw = Enum.GetValues<Case>().ToDictionary(c => c, _ => new List<double>());
        var hot = Enum.GetValues<Case>().ToDictionary(c => c, _ => new List<double>());
        var notes = new List<string>();
        context.Progress("policy: loading tc_nat and the bench-only representations, writing the rules");
        using (var core = CoreDataplane.Load(new DataplaneOptions()))
        using (var bench = CompanionObject.Load(core, File.ReadAllBytes(BenchObjectPath), "policy_repr", OwnMaps.ToHashSet()))
        using (var table = bench.Map<uint, BenchRule>("pr_bench_rules"))
        using (var config = bench.Map<uint, BenchConfig>("pr_bench_config"))
        using (var verdicts = bench.PerCpuArray<ulong>("pr_bench_pol_verdicts"))
        {
            core.WriteConfig(DataplaneConfig.Default);
            core.PolicyEndpoints.Update(new PolicyEndpointKey4(DenyAllPod), new PolicyEndpoint(DenyAllSet, 0));
            core.PolicyEndpoints.Update(new PolicyEndpointKey4(TenRulesPod), new PolicyEndpoint(TenRulesSet, 0));
            core.PolicyEndpoints.Update(new PolicyEndpointKey4(FiveHundredRulesPod), new PolicyEndpoint(FiveHundredRulesSet, 0));
            PolicyBenchRules.WriteLpm(core, TenRulesSet, 10);
            PolicyBenchRules.WriteLpm(core, FiveHundredRulesSet, 500);
            PolicyBenchRules.WriteLpm(core, OneRuleSet, 1);
            PolicyBenchRules.WriteTable(table, 500);
            var programs = new Dictionary<Case, BpfProgram>
            {
                [Case.Empty] = core.PassThrough,
                [Case.NoPolicy] = core.ToWorkload,
                [Case.ZeroRules] = core.ToWorkload,
                [Case.TenRules] = core.ToWorkload,
                [Case.FiveHundredRules] = core.ToWorkload,
                [Case.Lpm1] = bench.Program("pr_bench_pol_lpm"),
                [Case.Lpm500] = bench.Program("pr_bench_pol_lpm"),
                [Case.Loop1] = bench.Program("pr_bench_pol_loop"),
                [Case.Loop500] = bench.Program("pr_bench_pol_loop"),
            };
            var frames = Setups.ToDictionary(pair => pair.Key, pair => Enumerable.Range(0, Pool)
                .Select(k => PolicyBenchRules.Syn(pair.Value.Rule, pair.Value.Pod, (ushort)(1024 + k))).ToArray());

            for (var run = 0; run < settings.Runs; run++)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                var medians = TimeOneRun(core, programs, frames, config, verdicts, perCase, context.Cancellation);
                foreach (var (c, median) in medians)
                    raw[c].Add(median);
                foreach (var c in Enum.GetValues<Case>())
                    hot[c].Add(HotRun(core, programs[c], frames[c][0], config, verdicts, c, settings.PacketRepeat));
                context.Progress($"policy: run {run + 1}/{settings.Runs}: " + string.Join(", ", medians.Select(pair => $"{pair.Key} {pair.Value:F0} ns")));
            }
            notes.Add($"tc_nat build measured: {core.Variant}.");
        }

        var empty = new Measurement("ns", raw[Case.Empty]);
        var noPolicy = new Measurement("ns", raw[Case.NoPolicy]);
        Measurement Net(Case c, Case floor) => new("ns", raw[c].Zip(raw[floor], (a, b) => a - b).ToArray());
        var rows = new List<ReportRow> { new("empty program `pr_tc_pass`", empty) };
        foreach (var (c, label) in new[]
        {
            (Case.Lpm1, "representation: compiled LPM tries (two lookups), 1 rule"),
            (Case.Lpm500, "representation: compiled LPM tries (two lookups), 500 rules"),
            (Case.Loop1, "representation: rule table, bounded loop, 1 rule"),
            (Case.Loop500, "representation: rule table, bounded loop, 500 rules (match at the last)"),
        })
            rows.Add(ReportRow.Versus(label, new Measurement("ns", raw[c]), "empty", empty, detail: $"net {Net(c, Case.Empty).Format()}"));
        rows.Add(ReportRow.Versus("`pr_tc_to_wl`: no policy (pod without an endpoint entry)", noPolicy, "empty", empty,
            detail: $"net {Net(Case.NoPolicy, Case.Empty).Format()}"));
        foreach (var (c, label) in new[]
        {
            (Case.ZeroRules, "`pr_tc_to_wl`: 0 rules (isolated, empty set: SYN dropped)"),
            (Case.TenRules, "`pr_tc_to_wl`: 10 rules (SYN allowed, flow approved)"),
            (Case.FiveHundredRules, "`pr_tc_to_wl`: 500 rules (SYN allowed, flow approved)"),
        })
            rows.Add(ReportRow.Versus(label, new Measurement("ns", raw[c]), "no policy", noPolicy,
                detail: $"policy's own cost {Net(c, Case.NoPolicy).Format()}"));
        var emptyHot = new Measurement("ns", hot[Case.Empty]);
        var noPolicyHot = new Measurement("ns", hot[Case.NoPolicy]);
        Measurement NetHot(Case c, Case floor) => new("ns", hot[c].Zip(hot[floor], (a, b) => a - b).ToArray());
        rows.Add(new ReportRow($"empty program, one call with repeat {settings.PacketRepeat:N0} (hot)", emptyHot));
        foreach (var (c, label) in new[] { (Case.Lpm1, "LPM, 1 rule"), (Case.Lpm500, "LPM, 500 rules"), (Case.Loop1, "loop, 1 rule"), (Case.Loop500, "loop, 500 rules") })
            rows.Add(ReportRow.Versus($"representation: {label}, repeat {settings.PacketRepeat:N0} (hot)", new Measurement("ns", hot[c]), "empty", emptyHot,
                detail: $"net {NetHot(c, Case.Empty).Format()}"));
        rows.Add(ReportRow.Versus($"`pr_tc_to_wl`: no policy, repeat {settings.PacketRepeat:N0} (hot)", noPolicyHot, "empty", emptyHot,
            detail: $"net {NetHot(Case.NoPolicy, Case.Empty).Format()}"));
        foreach (var (c, label) in new[] { (Case.ZeroRules, "0 rules"), (Case.TenRules, "10 rules"), (Case.FiveHundredRules, "500 rules") })
            rows.Add(ReportRow.Versus($"`pr_tc_to_wl`: {label}, repeat {settings.PacketRepeat:N0} (hot; the SYN is checked every time, its entry exists after the first)",
                new Measurement("ns", hot[c]), "no policy", noPolicyHot, detail: $"policy's own cost {NetHot(c, Case.NoPolicy).Format()}"));
        return [new ReportSection("NetworkPolicy per-packet cost (BPF_PROG_TEST_RUN)", Method(perCase, settings.PacketRepeat), rows, notes)];
    }

    private static Dictionary<Case, double> TimeOneRun(CoreDataplane core, Dictionary<Case, BpfProgram> programs, Dictionary<Case, byte[][]> frames,
        BpfMap<uint, BenchConfig> config, BpfPerCpuArray<ulong> verdicts, int perCase, CancellationToken cancellation)
    {
        var histograms = Enum.GetValues<Case>().ToDictionary(c => c, _ => new DurationHistogram());
        var counts = Enum.GetValues<Case>().ToDictionary(c => c, _ => 0L);
        core.ResetCounters();
        for (uint slot = 0; slot < 3; slot++)
            verdicts.Clear(slot);
        ForgetFlows(core);
        var index = 0;
        for (var done = 0; done < perCase; done += Chunk)
        {
            cancellation.ThrowIfCancellationRequested();
            var size = Math.Min(Chunk, perCase - done);
            if (index + size > Pool)
            {
                ForgetFlows(core); // untimed: every SYN of the next round opens a flow afresh
                index = 0;
            }
            foreach (var c in Enum.GetValues<Case>())
            {
                var setup = Setups[c];
                config.Update(0, setup.Config);
                var (program, pool, histogram) = (programs[c], frames[c], histograms[c]);
                for (var i = 0; i < size; i++)
                {
                    // from another interface (a pod's veth): ingress_ifindex 0 would be the node's own packet, never checked
                    var run = ProgramTiming.Run(program, pool[index + i], repeat: 1, ingressIfindex: ForwardedFromIfindex);
                    if (run.ReturnValue != setup.ReturnValue)
                        throw new InvalidOperationException($"{c}: the program returned {run.ReturnValue}, not {setup.ReturnValue}");
                    histogram.Add(run.DurationNs);
                }
                counts[c] += size;
            }
            index += size;
        }
        ForgetFlows(core);
        Verify(core.ReadCounters(), verdicts, counts);
        return histograms.ToDictionary(pair => pair.Key, pair => pair.Value.Median());
    }

    /// <summary>
    /// One call with a large repeat on one frame: valid here, as none of these programs rewrites the packet and a SYN is
    /// checked every time (the policy conntrack entry the first repeat writes is then only found again). The counters
    /// must show that every repeat took the case's path.
    /// </summary>
    private static double HotRun(CoreDataplane core, BpfProgram program, byte[] frame, BpfMap<uint, BenchConfig> config,
        BpfPerCpuArray<ulong> verdicts, Case c, int repeat)
    {
        core.ResetCounters();
        for (uint slot = 0; slot < 3; slot++)
            verdicts.Clear(slot);
        config.Update(0, Setups[c].Config);
        var run = ProgramTiming.Run(program, frame, repeat, ForwardedFromIfindex);
        ForgetFlows(core);
        var counts = Enum.GetValues<Case>().ToDictionary(k => k, k => k == c ? (long)repeat : 0L);
        if (run.ReturnValue != Setups[c].ReturnValue)
            throw new InvalidOperationException($"{c} repeat {repeat}: the program returned {run.ReturnValue}");
        Verify(core.ReadCounters(), verdicts, counts);
        return run.DurationNs;
    }

    private static void ForgetFlows(CoreDataplane core)
    {
        var keys = core.PolicyConntrack.ReadAll().Select(entry => entry.Key).ToArray();
        if (keys.Length > 0)
            core.PolicyConntrack.DeleteBatch(keys);
    }

    /// <summary>The core's counters and the bench object's verdicts moved by exactly what was timed, and nothing else.</summary>
    private static void Verify(IReadOnlyDictionary<CounterReason, ulong> counters, BpfPerCpuArray<ulong> verdicts, Dictionary<Case, long> counts)
    {
        var expected = new Dictionary<CounterReason, ulong>
        {
            [CounterReason.DropPolicyIngressPort] = (ulong)counts[Case.ZeroRules],
            [CounterReason.PolicyIngressAllowed] = (ulong)(counts[Case.TenRules] + counts[Case.FiveHundredRules]),
        };
        var wrong = counters.Where(pair => pair.Value != expected.GetValueOrDefault(pair.Key))
            .Select(pair => $"{pair.Key}={pair.Value} (expected {expected.GetValueOrDefault(pair.Key)})").ToList();
        ulong Sum(uint slot) => verdicts.Read(slot).Aggregate(0UL, (a, b) => a + b);
        var allowed = (ulong)(counts[Case.Lpm1] + counts[Case.Lpm500] + counts[Case.Loop1] + counts[Case.Loop500]);
        var visited = (ulong)(counts[Case.Loop1] * 1 + counts[Case.Loop500] * 500);
        if (Sum(0) != allowed)
            wrong.Add($"bench allowed={Sum(0)} (expected {allowed})");
        if (Sum(1) != 0)
            wrong.Add($"bench denied={Sum(1)} (expected 0)");
        if (Sum(2) != visited)
            wrong.Add($"bench rules visited={Sum(2)} (expected {visited})");
        if (wrong.Count > 0)
            throw new InvalidOperationException("the verdict counters do not match what was timed: " + string.Join(", ", wrong));
    }

    private static string BenchObjectPath =>
        Path.Combine(typeof(PolicySuite).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == "RepositoryRoot").Value!,
            "bpf-c", "build", "bench", "policy_repr.bpf.o");

    private static string Method(int perCase, int repeat) =>
        "Every frame is run with `ingress_ifindex` set (forwarded from another interface), as a pod's packet reaches another pod. " +
        "Rule i allows TCP port 1000+i from 10.(100+i/256).(i%256).0/24 (its own port and peer: N rules are N port classes with one " +
        "peer each in the LPM tries, N entries in the loop's table); every SYN is one the **last** rule allows (the loop's worst allowed " +
        "case). All sets of the run share the two tries, as all sets of a node do (511 port blocks, 511 peer prefixes): an LPM " +
        "lookup's cost follows the trie it walks, not the rule count of its own set, so the 1-rule LPM row is one set among " +
        "others, not an empty trie. **Representations** (bench-only object `bpf-c/bench/policy_repr.bpf.c`, loaded on the core's maps): `pr_bench_pol_lpm` " +
        "parses the frame and asks `pr_pol_check` (the code `pr_tc_to_wl` runs: `pr_pol_ports4` then `pr_pol_peers4`); " +
        "`pr_bench_pol_loop` parses and walks an array of `{peer, mask, proto, port range, verdict}` with a bounded loop, first match " +
        "decides. Both read one array entry for their configuration and count their verdict. **`pr_tc_to_wl`** (the real ingress " +
        "program): the SYN goes to a pod without an endpoint entry (no policy: parse + one hash lookup), to an isolated pod whose set " +
        "has no entries (0 rules: the port lookup misses, dropped), or to pods with 10 and 500 rules (allowed: endpoint lookup, policy " +
        "conntrack lookup, both LPM lookups, the flow's entry written). A SYN is always checked, and every run is a fresh 5-tuple " +
        $"(a pool of {Pool:N0} source ports; the policy conntrack is emptied, untimed, before the pool is reused), so each run pays the " +
        $"check and the insert. {perCase:N0} single runs (repeat 1) per case per run, in chunks of {Chunk:N0} with the cases taking " +
        "turns, `pr_tc_pass` timed the same way; a run's figure is the median. **net** = case − empty, per run; **policy's own cost** = " +
        "case − no policy. After every run the counters must match: `drop_policy_ingress_port` = the 0-rule runs, " +
        "`policy_ingress_allowed` = the 10- and 500-rule runs, nothing else in `pr_counters`; the bench object's allowed count = its " +
        "runs, and the loop's visited rules = 1 per 1-rule run and 500 per 500-rule run. Single runs are cold-ish (the syscall and " +
        $"skb set-up between two runs evict much of what a program touches); the **(hot)** rows time one call with repeat {repeat:N0} " +
        "on one frame, valid because no program here rewrites the packet, checked by the same counters (for `pr_tc_to_wl` the first " +
        "repeat writes the flow's entry, the others find it and check the SYN again: the check without the insert).";
}
