using System.Globalization;
using System.Reflection;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Suites.Packet;
using ProxyReplacement.Bench.Workload;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.Dataplane.Programs;

namespace ProxyReplacement.Bench.Suites;

/// <summary>
/// Where a new flow's cost goes, and which steps grow with the number of Services: the new-flow path of
/// <c>pr_tc_from_wl</c> cut into cumulative prefixes (bench-only object <c>bpf-c/bench/newflow_steps.bpf.c</c>, on the
/// core's maps), each timed as the packet suite times new flows (single runs on fresh SYNs to a random Service, in
/// chunks with the empty program), at the smallest and the largest packet size. A step's cost is the difference between
/// its prefix and the one before, in the same run. The counters prove each run found its frontend and backend.
/// </summary>
public sealed class NewFlowStepsSuite : IBenchSuite
{
    private const int Chunk = 1024;
    private const int EndpointsPerService = 4;
    private static readonly string[] OwnMaps = ["pr_bench_nf_reached", "pr_bench_nf_be_arr", "pr_bench_nf_direct_map", "pr_bench_nf_locked_map", "pr_bench_nf_slot_of", "pr_bench_nf_slots"];
    private const uint ServiceCidrBase = 0x0a600000; // PR_BENCH_NF_CIDR_BASE: 10.96.0.0
    private const uint ServiceCidrSize = 1u << 20;
    private const uint ArrayStride = 4; // PR_BENCH_NF_STRIDE

    /// <summary>The prefixes in path order, then the full program; each one's step is the difference with the previous.</summary>
    private static readonly (string Program, string Step)[] Prefixes =
    [
        ("pr_tc_pass", "empty program (the floor)"),
        ("pr_bench_nf_parse", "parse"),
        ("pr_bench_nf_ct_miss", "`pr_ct4` lookup (miss)"),
        ("pr_bench_nf_fe", "`pr_nat_fe4` lookup (frontend)"),
        ("pr_bench_nf_be", "backend choice: clock, random ordinal, `pr_nat_be4` lookup"),
        ("pr_bench_nf_pol", "`pr_pol_ep4` lookup (miss: no policy)"),
        ("pr_bench_nf_ct", "conntrack pair written (two `pr_ct4` LRU inserts)"),
        ("pr_tc_from_wl", "the rest of `pr_tc_from_wl` (DNAT rewrite, counters; it takes the ClusterIP fast path, so this step is negative by what the slot saves over the two hash lookups)"),
        // not in the chain: pr_bench_nf_fe + the backend from an array; its step is against pr_bench_nf_fe
        ("pr_bench_nf_be_array", "alternative to the backend choice: the backend from an ARRAY indexed by svc_id × 4 + ordinal, not the `pr_nat_be4` hash"),
        // not in the chain: pr_bench_nf_ct_miss + frontend and backend from one direct-indexed entry; against pr_bench_nf_ct_miss
        ("pr_bench_nf_direct", "alternative to frontend lookup + backend choice: one 64-byte ARRAY entry indexed by the VIP's offset in the Service CIDR, backends inline"),
        // the two ways to make that entry safe to rewrite under traffic; both against pr_bench_nf_ct_miss
        ("pr_bench_nf_direct_locked", "the same, read under a `bpf_spin_lock` in the entry (updates in place, 64 bytes per address)"),
        ("pr_bench_nf_two_level", "copy on write: a 4-byte slot number per address, then the 64-byte entry in a dense slot ARRAY (two lines, no lock)"),
        ("pr_bench_nf_direct_sum", "the sketch's entry checked by a checksum over its fields before use (one line read, no write, no lock)"),
        ("pr_bench_nf_direct_copy", "the same copy of the entry to the stack, used without the checksum (what the copy costs without the check)"),
        ("pr_bench_nf_direct_seq", "seqlock reader: the entry's sequence word read before and after the fields used (volatile loads), no copy, no lock"),
    ];

    private const int ChainLength = 8;
    private const int CtMissPrefix = 2;
    private const int FrontendPrefix = 3;

    /// <summary>The prefix a step is measured against: the previous one in the chain; the alternatives against where they branch off.</summary>
    private static int BaseOf(int i) => i < ChainLength ? i - 1 : Prefixes[i].Program == "pr_bench_nf_be_array" ? FrontendPrefix : CtMissPrefix;
    private const int ReachedSlots = 11; // PR_BENCH_NF_SLOTS
    private static readonly HashSet<int> Creates = [6, 7]; // pr_bench_nf_ct and pr_tc_from_wl write a conntrack pair

    public string Name => "newflow-steps";

    public IReadOnlyList<ReportSection> Run(BenchContext context)
    {
        var settings = context.Settings;
        var perCase = Math.Max(Chunk, settings.PacketRepeat / 5);
        var sizes = new[] { settings.PacketServiceCounts.Min(), settings.PacketServiceCounts.Max() }.Distinct().ToArray();
        var raw = sizes.ToDictionary(s => s, _ => Prefixes.Select(_ => new List<double>()).ToArray());
        var rows = new List<ReportRow>();
        var loaded = new List<(int Services, CoreDataplane Core, CompanionObject Bench, PacketCases Cases)>();
        try
        {
            foreach (var services in sizes)
            {
                context.Progress($"newflow-steps: {services} Services: loading and programming the maps");
                var core = ProgrammedMaps.Load(services, EndpointsPerService);
                loaded.Add((services, core, null!, null!));
                ProgrammedMaps.Program(core, new SyntheticServices(services, EndpointsPerService));
                var bench = CompanionObject.Load(core, File.ReadAllBytes(BenchObjectPath), "newflow_steps", OwnMaps.ToHashSet());
                FillBackendArray(core, bench);
                var (indexes, entries) = FillDirectEntries(core, bench);
                FillSafeEntries(bench, indexes, entries);
                loaded[^1] = (services, core, bench, new PacketCases(services));
            }
            for (var run = 0; run < settings.Runs; run++)
                foreach (var (services, core, bench, cases) in loaded)
                {
                    context.Cancellation.ThrowIfCancellationRequested();
                    var programs = Prefixes.Select(p => p.Program switch
                    {
                        "pr_tc_pass" => core.PassThrough,
                        "pr_tc_from_wl" => core.FromWorkload,
                        var name => bench.Program(name),
                    }).ToArray();
                    using var reached = bench.PerCpuArray<ulong>("pr_bench_nf_reached");
                    var medians = TimeOneRun(core, programs, cases, reached, perCase, context.Cancellation);
                    for (var i = 0; i < Prefixes.Length; i++)
                        raw[services][i].Add(medians[i]);
                    context.Progress($"newflow-steps: {services} Services, run {run + 1}/{settings.Runs}: " +
                        string.Join(", ", medians.Select((m, i) => $"{Prefixes[i].Program} {m:F0}")));
                }
        }
        finally
        {
            foreach (var (_, core, bench, _) in loaded)
            {
                bench?.Dispose();
                core.Dispose();
            }
        }

        var smallest = sizes[0];
        foreach (var services in sizes)
        {
            var label = services.ToString("N0", CultureInfo.InvariantCulture) + (services == 1 ? " Service" : " Services");
            for (var i = 1; i < Prefixes.Length; i++)
            {
                var step = Step(raw[services], i, BaseOf(i));
                var detail = $"prefix `{Prefixes[i].Program}` {new Measurement("ns", raw[services][i]).Format()}";
                if (services != smallest)
                    rows.Add(ReportRow.Versus($"{label}: step {Prefixes[i].Step}", step, $"at {smallest:N0}", Step(raw[smallest], i, BaseOf(i)), detail: detail));
                else
                    rows.Add(new ReportRow($"{label}: step {Prefixes[i].Step}", step, Detail: detail));
            }
        }
        return [new ReportSection("New-flow cost by step (BPF_PROG_TEST_RUN)", Method(perCase), rows)];
    }

    /// <summary>Prefix i minus prefix <paramref name="before"/>, per run.</summary>
    private static Measurement Step(List<double>[] raw, int i, int before) => new("ns", raw[i].Zip(raw[before], (a, b) => a - b).ToArray());

    /// <summary>Copies every backend of pr_nat_be4 to pr_bench_nf_be_arr[svc_id × stride + ordinal].</summary>
    private static void FillBackendArray(CoreDataplane core, CompanionObject bench)
    {
        using var array = bench.Map<uint, NatBackendValue4>("pr_bench_nf_be_arr");
        var backends = core.Backends.ReadAll();
        var keys = backends.Select(pair => pair.Key.ServiceId * ArrayStride + pair.Key.Ordinal).ToArray();
        if (backends.Any(pair => pair.Key.Ordinal >= ArrayStride) || keys.Any(k => k >= (uint)array.MaxEntries))
            throw new InvalidOperationException("a backend does not fit the bench's backend array");
        array.UpdateBatch(keys, backends.Select(pair => pair.Value).ToArray());
    }

    /// <summary>One entry per frontend at its VIP's offset in the Service CIDR: the frontend value, its port and protocol, its backends.</summary>
    private static (uint[] Indexes, DirectEntry[] Entries) FillDirectEntries(CoreDataplane core, CompanionObject bench)
    {
        using var direct = bench.Map<uint, DirectEntry>("pr_bench_nf_direct_map");
        var backends = core.Backends.ReadAll().ToDictionary(pair => pair.Key, pair => pair.Value);
        NatBackendValue4 Backend(uint id, uint ordinal) => backends.GetValueOrDefault(new NatBackendKey(id, ordinal));
        var keys = new List<uint>();
        var values = new List<DirectEntry>();
        foreach (var (key, value) in core.Frontends.ReadAll())
        {
            var index = System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(key.VipNbo) - ServiceCidrBase;
            if (index >= ServiceCidrSize || value.BackendCount > ArrayStride)
                throw new InvalidOperationException($"frontend {key} does not fit the bench's direct table");
            keys.Add(index);
            values.Add(DirectEntry.Sealed(new DirectEntry(value, key.PortNbo, key.Protocol, 0, Backend(value.ServiceId, 0),
                Backend(value.ServiceId, 1), Backend(value.ServiceId, 2), Backend(value.ServiceId, 3))));
        }
        direct.UpdateBatch(keys.ToArray(), values.ToArray());
        return (keys.ToArray(), values.ToArray());
    }

    /// <summary>
    /// The same entries in the locked layout (struct pr_bench_nf_locked, the lock word left zero: the kernel never copies it),
    /// and copy on write: slot numbers 1..N per address in pr_bench_nf_slot_of, the entries in pr_bench_nf_slots.
    /// </summary>
    private static void FillSafeEntries(CompanionObject bench, uint[] keys, DirectEntry[] entries)
    {
        using var locked = bench.Map<uint, LockedEntry>("pr_bench_nf_locked_map");
        using var slotOf = bench.Map<uint, uint>("pr_bench_nf_slot_of");
        using var slots = bench.Map<uint, DirectEntry>("pr_bench_nf_slots");
        if (entries.Length >= slots.MaxEntries)
            throw new InvalidOperationException($"{entries.Length} frontends do not fit the bench's {slots.MaxEntries} slots");
        var numbers = Enumerable.Range(1, entries.Length).Select(n => (uint)n).ToArray();
        locked.UpdateBatch(keys, entries.Select(e => new LockedEntry(e)).ToArray());
        slots.UpdateBatch(numbers, entries);
        slotOf.UpdateBatch(keys, numbers);
    }

    /// <summary>struct pr_bench_nf_locked (bench/newflow_steps.bpf.c): the lock, port, protocol, frontend, 4 backends; 64 bytes.</summary>
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Explicit, Size = 64)]
    private readonly struct LockedEntry(DirectEntry e)
    {
        [System.Runtime.InteropServices.FieldOffset(4)] public readonly ushort PortNbo = e.PortNbo;
        [System.Runtime.InteropServices.FieldOffset(6)] public readonly byte Protocol = e.Protocol;
        [System.Runtime.InteropServices.FieldOffset(8)] public readonly NatFrontendValue Frontend = e.Frontend;
        [System.Runtime.InteropServices.FieldOffset(32)] public readonly NatBackendValue4 Backend0 = e.Backend0;
        [System.Runtime.InteropServices.FieldOffset(40)] public readonly NatBackendValue4 Backend1 = e.Backend1;
        [System.Runtime.InteropServices.FieldOffset(48)] public readonly NatBackendValue4 Backend2 = e.Backend2;
        [System.Runtime.InteropServices.FieldOffset(56)] public readonly NatBackendValue4 Backend3 = e.Backend3;
    }

    /// <summary>struct pr_bench_nf_direct (bench/newflow_steps.bpf.c): 64 bytes, one cache line.</summary>
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Explicit, Size = 64)]
    private readonly struct DirectEntry(NatFrontendValue frontend, ushort portNbo, byte protocol, uint checksum, NatBackendValue4 b0,
        NatBackendValue4 b1, NatBackendValue4 b2, NatBackendValue4 b3)
    {
        [System.Runtime.InteropServices.FieldOffset(0)] public readonly NatFrontendValue Frontend = frontend;
        [System.Runtime.InteropServices.FieldOffset(24)] public readonly ushort PortNbo = portNbo;
        [System.Runtime.InteropServices.FieldOffset(26)] public readonly byte Protocol = protocol;
        [System.Runtime.InteropServices.FieldOffset(28)] public readonly uint Checksum = checksum;
        [System.Runtime.InteropServices.FieldOffset(32)] public readonly NatBackendValue4 Backend0 = b0;
        [System.Runtime.InteropServices.FieldOffset(40)] public readonly NatBackendValue4 Backend1 = b1;
        [System.Runtime.InteropServices.FieldOffset(48)] public readonly NatBackendValue4 Backend2 = b2;
        [System.Runtime.InteropServices.FieldOffset(56)] public readonly NatBackendValue4 Backend3 = b3;

        /// <summary>The entry with its checksum: FNV-1a over its 32-bit words but the checksum's own (pr_bench_nf_checksum).</summary>
        public static DirectEntry Sealed(DirectEntry entry)
        {
            var words = System.Runtime.InteropServices.MemoryMarshal.Cast<DirectEntry, uint>(new ReadOnlySpan<DirectEntry>(in entry));
            var hash = 2166136261u;
            for (var i = 0; i < words.Length; i++)
                if (i != 7)
                    hash = (hash ^ words[i]) * 16777619u;
            return new DirectEntry(entry.Frontend, entry.PortNbo, entry.Protocol, hash, entry.Backend0, entry.Backend1, entry.Backend2, entry.Backend3);
        }
    }

    private static double[] TimeOneRun(CoreDataplane core, BpfProgram[] programs, PacketCases cases, BpfPerCpuArray<ulong> reached, int perCase,
        CancellationToken cancellation)
    {
        var histograms = programs.Select(_ => new DurationHistogram()).ToArray();
        var before = Enumerable.Range(0, ReachedSlots).Select(slot => Sum(reached, (uint)slot)).ToArray();
        core.ResetCounters();
        // Each prefix runs its own frames (its own random Services): had they shared a chunk's frames, a prefix would
        // find the frontends and backends the previous one had just pulled into the cache.
        var framesPerPrefix = PacketCases.NewFlowPool / programs.Length;
        for (var (done, round) = (0, 0); done < perCase; done += Chunk, round++)
        {
            cancellation.ThrowIfCancellationRequested();
            var size = Math.Min(Chunk, perCase - done);
            var offset = round * Chunk % (framesPerPrefix - Chunk + 1);
            for (var p = 0; p < programs.Length; p++)
            {
                var first = p * framesPerPrefix + offset;
                for (var i = 0; i < size; i++)
                {
                    var run = ProgramTiming.Run(programs[p], cases.NewFlows[first + i]);
                    if (run.ReturnValue != 0)
                        throw new InvalidOperationException($"{Prefixes[p].Program}: returned {run.ReturnValue}, not TC_ACT_OK");
                    histograms[p].Add(run.DurationNs);
                }
                if (Creates.Contains(p))
                    cases.ForgetNewFlows(core, first, size); // untimed: these frames must be new flows again next time
            }
        }
        // every bench program parsed; nf_fe, nf_be, nf_pol, nf_ct, nf_be_array found the frontend, nf_be, nf_pol, nf_ct the backend;
        // only nf_ct wrote a pair; nf_be_array found the frontend too, and its backend in the array; nf_direct,
        // nf_direct_locked, nf_two_level, nf_direct_sum, nf_direct_copy and nf_direct_seq each their entry
        var runs = (ulong)perCase;
        ulong[] expected = [runs * 13, runs * 5, runs * 3, runs * 1, runs * 1, runs * 1, runs * 1, runs * 1, runs * 1, runs * 1, runs * 1];
        var got = Enumerable.Range(0, ReachedSlots).Select(slot => Sum(reached, (uint)slot) - before[slot]).ToArray();
        var newFlows = core.ReadCounters().GetValueOrDefault(CounterReason.NatNewFlow);
        if (!got.SequenceEqual(expected) || newFlows != runs)
            throw new InvalidOperationException($"the step counters do not match what was timed: reached [{string.Join(", ", got)}], " +
                $"expected [{string.Join(", ", expected)}]; nat_new_flow {newFlows}, expected {runs}");
        return histograms.Select(h => h.Median()).ToArray();
    }

    private static ulong Sum(BpfPerCpuArray<ulong> array, uint slot) => array.Read(slot).Aggregate(0UL, (a, b) => a + b);

    private static string BenchObjectPath =>
        Path.Combine(typeof(NewFlowStepsSuite).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == "RepositoryRoot").Value!,
            "bpf-c", "build", "bench", "newflow_steps.bpf.o");

    private static string Method(int perCase) =>
        "The new-flow path of `pr_tc_from_wl` cut into cumulative prefixes (bench-only object `bpf-c/bench/newflow_steps.bpf.c`, loaded on " +
        "the core's maps, each prefix a TC program), and the full program, all run by BPF_PROG_TEST_RUN on the packet suite's new-flow SYNs " +
        $"(a random Service among N, N × {EndpointsPerService} backends programmed through the Syncer): single runs (repeat 1), {perCase:N0} " +
        $"per prefix per run, in chunks of {Chunk} with the prefixes taking turns, each on its own frames (its own random Services: on shared frames a " +
        "prefix would find what the previous one had just pulled into the cache); the conntrack pairs a prefix wrote are deleted " +
        "(untimed) after its chunk, so its frames are new flows again the next time. A step's figure is its prefix's median minus the previous prefix's, " +
        "per run. Beside the chain, alternatives to the two hash lookups, each against the prefix it branches off: the backend from an ARRAY " +
        "(after the hash frontend); frontend and backends from one 64-byte ARRAY entry at the VIP's offset in the Service CIDR (after the " +
        "conntrack miss), as is, read under a `bpf_spin_lock` in the entry, copy on write (a slot number per address, then the entry in a " +
        "slot ARRAY), checked by a checksum over its fields, copied whole to the stack as the checksummed form does but used unchecked, and read as a seqlock reader would (its sequence word before and after the fields it uses). The counters must show that every run of a prefix from the frontend step on found its frontend, from the backend step on its " +
        "backend, every alternative its entries, and that the full program counted every run as a new flow.";
}
