using System.Globalization;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Suites.Packet;
using ProxyReplacement.Bench.Workload;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.Programs;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Options;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.Bench.Suites;

/// <summary>
/// Per-packet cost of the host-interface program <c>pr_tc_from_host</c> (NodePort traffic from outside the node) through
/// BPF_PROG_TEST_RUN, with the method of <see cref="PacketSuite"/>: single runs on fresh frames, the cases taking turns in
/// chunks with the empty program, each run's median, net = program − empty, and the verdict counters checked after
/// every run. Cases: a new NodePort flow, an established one, the backend's reply through <c>pr_tc_from_wl</c> (reverse
/// NAT to nodeIP:nodePort plus the program's own FIB lookup and <c>bpf_redirect_neigh</c>), and a segment to the node's
/// own port 22. The runs happen on a thread inside a scratch namespace whose FIB routes the clients (forwarding on, a
/// default route via a neighbour entered as permanent), so the reply's FIB lookup answers as on a node.
/// </summary>
public sealed class HostPacketSuite : IBenchSuite
{
    private const int Chunk = 1024;
    private const int EndpointsPerService = 4;
    private const int TcActOk = 0;
    private const int TcActRedirect = 7;

    private enum HostCase
    {
        Empty,
        NewFlow,
        Established,
        Reply,
        PassThrough,
    }

    private static readonly HostCase[] Timed = [HostCase.Empty, HostCase.NewFlow, HostCase.Established, HostCase.Reply, HostCase.PassThrough];

    private static readonly Dictionary<HostCase, CounterReason> Expected = new()
    {
        [HostCase.NewFlow] = CounterReason.NatNewFlow,
        [HostCase.Established] = CounterReason.NatEstablished,
        [HostCase.Reply] = CounterReason.NatReverse,
        [HostCase.PassThrough] = CounterReason.PassNoService,
    };

    public string Name => "packet-host";

    public IReadOnlyList<ReportSection> Run(BenchContext context)
    {
        var settings = context.Settings;
        using var namespaces = new TestNamespaces();
        var netns = namespaces.Add("pkt");
        RouteClients(netns);
        // Every BPF_PROG_TEST_RUN (and so the reply's bpf_fib_lookup) runs on a thread inside that namespace.
        var sizes = NetworkNamespace.Run(netns, () => Measure(context));
        return [new ReportSection("BPF per-packet cost of the host-interface program (NodePort, BPF_PROG_TEST_RUN)",
            Method(settings), Rows(settings, sizes), [.. sizes.Select(size => size.Note), $"tc_nat build measured: {sizes[0].Variant}."])];
    }

    /// <summary>The scratch namespace's FIB: the node address on a veth, forwarding on, the clients behind a router whose neighbour entry is permanent.</summary>
    private static void RouteClients(string netns)
    {
        IpCommand.Sysctl(netns, "net.ipv4.ip_forward", "1");
        IpCommand.Ip("-n", netns, "link", "add", "up0", "type", "veth", "peer", "name", "up0p");
        IpCommand.Ip("-n", netns, "address", "add", $"{HostPacketCases.NodeAddress}/24", "dev", "up0");
        IpCommand.Ip("-n", netns, "link", "set", "up0", "up");
        IpCommand.Ip("-n", netns, "link", "set", "up0p", "up");
        IpCommand.Ip("-n", netns, "route", "add", "default", "via", Router, "dev", "up0");
        IpCommand.Ip("-n", netns, "neigh", "replace", Router, "lladdr", "02:00:00:00:77:fe", "dev", "up0", "nud", "permanent");
    }

    private const string Router = "192.168.77.254";

    private static List<SizeUnderTest> Measure(BenchContext context)
    {
        var settings = context.Settings;
        var sizes = new List<SizeUnderTest>();
        try
        {
            foreach (var services in settings.HostPacketServiceCounts)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                context.Progress($"packet-host: {services} Services: loading and programming the maps");
                sizes.Add(SizeUnderTest.Create(services));
            }
            for (var run = 0; run < settings.Runs; run++)
                foreach (var size in sizes)
                {
                    context.Cancellation.ThrowIfCancellationRequested();
                    var medians = TimeOneRun(size, settings.PacketRepeat, context.Cancellation);
                    foreach (var (c, median) in medians)
                        size.Raw[c].Add(median);
                    context.Progress($"packet-host: {size.Services} Services, run {run + 1}/{settings.Runs}: " +
                        string.Join(", ", medians.Select(pair => $"{pair.Key} {pair.Value:F0} ns")));
                }
            return sizes;
        }
        finally
        {
            foreach (var size in sizes)
                size.Dataplane.Dispose();
        }
    }

    /// <summary>One cluster size: its loaded, programmed dataplane, its frames and the samples of every run.</summary>
    private sealed record SizeUnderTest(int Services, int NodePorts, CoreDataplane Dataplane, HostPacketCases Cases, int ReplyVerdict, int Frontends)
    {
        public Dictionary<HostCase, List<double>> Raw { get; } = Timed.ToDictionary(c => c, _ => new List<double>());
        public string Variant => Dataplane.Variant.ToString();

        public string Note =>
            $"{Label(Services)}: {NodePorts:N0} of them NodePort Services (node address {HostPacketCases.NodeAddress}), " +
            $"{Frontends:N0} frontends in `pr_nat_fe4`; the replies returned " +
            (ReplyVerdict == TcActRedirect
                ? "TC_ACT_REDIRECT: the FIB answered in the benchmark's namespace and `bpf_redirect_neigh` was called (its cost is in the reply row; under BPF_PROG_TEST_RUN the redirect itself is not carried out)."
                : $"{ReplyVerdict}: the FIB did not answer, so the reply row lacks the redirect.");

        public static SizeUnderTest Create(int services)
        {
            var nodePorts = Math.Min(services, SyntheticServices.NodePortRangeSize);
            var dataplane = ProgrammedMaps.Load(services, EndpointsPerService, extraFrontends: nodePorts);
            try
            {
                var context = new FrontendContext(EquatableList.From(HostPacketCases.NodeAddress), PortRange.DefaultNodePorts);
                ProgrammedMaps.Program(dataplane, new SyntheticServices(services, EndpointsPerService, nodePorts: nodePorts), context);
                var frontends = dataplane.Frontends.ReadAll().Count;
                if (frontends != services + nodePorts)
                    throw new InvalidOperationException($"{frontends} frontends programmed, expected {services} ClusterIPs + {nodePorts} NodePorts");
                var cases = new HostPacketCases(nodePorts);
                var verdict = cases.EstablishFlows(dataplane);
                if (verdict != TcActRedirect)
                    throw new InvalidOperationException(
                        $"the NodePort replies returned {verdict}, not TC_ACT_REDIRECT: the FIB of the benchmark's namespace did not route the clients");
                dataplane.ResetCounters();
                return new SizeUnderTest(services, nodePorts, dataplane, cases, verdict, frontends);
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
    /// <paramref name="perCase"/> runs. Returns each case's median duration, after checking verdicts and counters.
    /// </summary>
    private static Dictionary<HostCase, double> TimeOneRun(SizeUnderTest size, int perCase, CancellationToken cancellation)
    {
        var (dataplane, cases) = (size.Dataplane, size.Cases);
        var histograms = Timed.ToDictionary(c => c, _ => new DurationHistogram());
        var counts = Timed.ToDictionary(c => c, _ => 0L);
        dataplane.ResetCounters();
        var newFlowIndex = 0;
        var flowIndex = 0;
        var passIndex = 0;
        for (var done = 0; done < perCase; done += Chunk)
        {
            cancellation.ThrowIfCancellationRequested();
            var chunk = Math.Min(Chunk, perCase - done);
            if (newFlowIndex + chunk > cases.NewFlows.Length)
            {
                cases.ForgetNewFlows(dataplane);
                newFlowIndex = 0;
            }
            foreach (var c in Timed)
            {
                var histogram = histograms[c];
                var expected = c == HostCase.Reply ? size.ReplyVerdict : TcActOk;
                for (var i = 0; i < chunk; i++)
                {
                    var run = c switch
                    {
                        HostCase.Empty => ProgramTiming.Run(dataplane.PassThrough, cases.PassThrough[(passIndex + i) % cases.PassThrough.Length]),
                        HostCase.NewFlow => ProgramTiming.Run(dataplane.FromHost, cases.NewFlows[newFlowIndex + i]),
                        HostCase.Established => ProgramTiming.Run(dataplane.FromHost, cases.Established[(flowIndex + i) % HostPacketCases.FlowCount]),
                        HostCase.Reply => ProgramTiming.Run(dataplane.FromWorkload, cases.Replies[(flowIndex + i) % HostPacketCases.FlowCount]),
                        _ => ProgramTiming.Run(dataplane.FromHost, cases.PassThrough[(passIndex + i) % cases.PassThrough.Length]),
                    };
                    if (run.ReturnValue != expected)
                        throw new InvalidOperationException($"{c}: the program returned {run.ReturnValue}, expected {expected}");
                    histogram.Add(run.DurationNs);
                }
                counts[c] += chunk;
            }
            newFlowIndex += chunk;
            flowIndex += chunk;
            passIndex += chunk;
        }
        cases.ForgetNewFlows(dataplane);
        VerifyCounters(dataplane.ReadCounters(), counts);
        return histograms.ToDictionary(pair => pair.Key, pair => pair.Value.Median());
    }

    /// <summary>Each case's counter moved by exactly its number of runs, and nothing else moved (no drop, no expiry, no failed insert).</summary>
    private static void VerifyCounters(IReadOnlyDictionary<CounterReason, ulong> counters, Dictionary<HostCase, long> counts)
    {
        var expected = Expected.ToDictionary(pair => pair.Value, pair => (ulong)counts[pair.Key]);
        var wrong = counters
            .Where(pair => pair.Value != expected.GetValueOrDefault(pair.Key))
            .Select(pair => $"{pair.Key}={pair.Value} (expected {expected.GetValueOrDefault(pair.Key)})")
            .ToList();
        if (wrong.Count > 0)
            throw new InvalidOperationException("the verdict counters do not match what was timed: " + string.Join(", ", wrong));
    }

    private static List<ReportRow> Rows(BenchSettings settings, List<SizeUnderTest> sizes)
    {
        var rows = new List<ReportRow>();
        var net = new Dictionary<int, Dictionary<HostCase, Measurement>>();
        foreach (var size in sizes)
        {
            var empty = new Measurement("ns", size.Raw[HostCase.Empty]);
            var label = Label(size.Services);
            rows.Add(new ReportRow($"{label}: empty program `pr_tc_pass`", empty));
            net[size.Services] = [];
            foreach (var c in Timed.Skip(1))
            {
                var value = new Measurement("ns", size.Raw[c]);
                var netCost = new Measurement("ns", size.Raw[c].Zip(size.Raw[HostCase.Empty], (program, floor) => program - floor).ToArray());
                net[size.Services][c] = netCost;
                rows.Add(ReportRow.Versus($"{label}: {Describe(c)}", value, "empty", empty, null, $"net {netCost.Format()}"));
            }
        }
        var smallest = sizes.Min(size => size.Services);
        var largest = sizes.Max(size => size.Services);
        if (largest != smallest)
            foreach (var c in Timed.Skip(1))
                rows.Add(ReportRow.Versus($"flatness: {Describe(c)}, net at {largest:N0} Services", net[largest][c],
                    $"net at {smallest:N0}", net[smallest][c], "within ±10 % (0.90–1.10×)"));
        return rows;
    }

    private static string Label(int services) =>
        services.ToString("N0", CultureInfo.InvariantCulture) + (services == 1 ? " Service" : " Services");

    private static string Describe(HostCase c) => c switch
    {
        HostCase.NewFlow => "NodePort new flow, `pr_tc_from_host` (SYN to nodeIP:nodePort: frontend + backend lookup, conntrack pair created, DNAT)",
        HostCase.Established => "NodePort established flow, `pr_tc_from_host` (conntrack hit, DNAT)",
        HostCase.Reply => "NodePort reply, `pr_tc_from_wl` at the backend's veth (reverse conntrack hit, reverse NAT, FIB lookup, `bpf_redirect_neigh`)",
        HostCase.PassThrough => "pass-through, `pr_tc_from_host` (TCP to the node's own port 22: conntrack and frontend miss)",
        _ => "empty program",
    };

    private static string Method(BenchSettings settings) =>
        "`pr_tc_from_host` (the TC program the daemon attaches at ingress of the host data interfaces, `--host-interfaces`) run by " +
        "BPF_PROG_TEST_RUN on Ethernet frames from clients outside the node, with the maps holding N Services × " +
        $"{EndpointsPerService} backends programmed through the Syncer with node address {HostPacketCases.NodeAddress}: Services " +
        $"0 .. min(N, {SyntheticServices.NodePortRangeSize:N0}) − 1 are type NodePort (nodePort 30000 + i; the default range holds " +
        $"{SyntheticServices.NodePortRangeSize:N0} nodePorts, so no cluster has more), each with its ClusterIP frontend and its NodePort " +
        "frontend, the others ClusterIP only; at 100,000 Services `pr_nat_fe4` holds 102,768 frontends. The method is the packet suite's " +
        "above: single runs (repeat 1) on fresh frames, " +
        $"{settings.PacketRepeat:N0} per case per run in chunks of {Chunk} with the cases and the empty program `pr_tc_pass` taking turns; " +
        "all sizes loaded at once and visited by every run; a run's figure is the median single-run duration, **net** = program − empty " +
        "per run. Every frame targets a NodePort Service chosen at random among all of them. New flows: SYNs from a pool of " +
        $"{HostPacketCases.NewFlowPool:N0} distinct clients/ports whose conntrack pairs are deleted (untimed) before the pool is reused. " +
        $"Established and reply: {HostPacketCases.FlowCount:N0} NodePort flows opened beforehand (the SYN through `pr_tc_from_host`, the " +
        "backend's SYN-ACK through `pr_tc_from_wl`). The reply case is `pr_tc_from_wl` at the backend's veth: a NodePort reply's new " +
        "source is a node address, which the kernel would drop as a martian when forwarding, so the program routes it itself " +
        "(`bpf_fib_lookup`, then `bpf_redirect_neigh` to the interface the FIB names). So that the FIB answers as on a node, every " +
        "run happens on a thread inside a scratch network namespace (`prt-xxxx-pkt`) with forwarding on, the node address on a veth " +
        "and a default route via a router whose neighbour entry is permanent: every reply must return TC_ACT_REDIRECT (the notes " +
        "say so per size); BPF_PROG_TEST_RUN does not carry the redirect out, so the figure is the program's work up to handing the " +
        "packet on. Pass-through: segments of SSH sessions to the node's own port 22 from random outside clients (conntrack miss, " +
        "frontend miss). After every run the counters must have moved by exactly the runs of each case (new_flow, established, " +
        "reverse, pass_no_service) and nothing else, and every run must have returned its case's verdict, otherwise the run fails. " +
        "The flatness rows compare each case's net cost at the largest size with the smallest.";
}
