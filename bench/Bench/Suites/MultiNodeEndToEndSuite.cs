using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Suites.EndToEnd;
using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.Bench.Suites;

/// <summary>
/// External traffic to a NodePort whose backend is on another node, in each external service mode (snat, tunnel, dsr),
/// against the same client straight to a pod IP (no proxy), on the e2e harness's many-node topology with real daemons
/// (<see cref="BenchCluster"/>): new connections, requests on one kept-alive connection (2-byte and 64 KiB answers) and
/// iperf3 both ways, runs taking turns between the paths; then iperf3 again with segmentation offload turned on for those
/// runs. Every run of a path checks the daemons' counters (the traffic took the path's way).
/// </summary>
public sealed partial class MultiNodeEndToEndSuite : IBenchSuite
{
    public string Name => "multinode-e2e";

    /// <summary>
    /// How far a counter that the path must not move may move in one run: the last packets of the connections of the path
    /// measured just before (the server's FIN or final ACK after the client has exited) can cross the nodes while this
    /// run starts. Seen once: a tunnel flow's last reply (node b tunnel_encap +1, node a nat_reverse +1) during a dsr run.
    /// </summary>
    private const int StrayPackets = 4;

    private const string DirectName = "direct: external client to pod c0's IP, routed by node c (no daemon there)";
    private const string ReferenceName = "two-hop reference: pod b0's second IP, routed through nodes a and b both ways (our programs pass it)";

    private static string ModeName(ModeService service) => $"{service.Mode}: node a's NodePort, backend pod b0 on node b";

    /// <summary>The paths: direct (the baseline), the two-hop reference, then one per mode.</summary>
    private static IReadOnlyList<ClusterPath> Paths(bool withReference) =>
    [
        new(DirectName, PathRole.Direct, null),
        .. withReference ? [new ClusterPath(ReferenceName, PathRole.Reference, null)] : Array.Empty<ClusterPath>(),
        .. BenchCluster.Services.Select(service => new ClusterPath(ModeName(service), PathRole.Ours, service)),
    ];

    public IReadOnlyList<ReportSection> Run(BenchContext context)
    {
        var settings = context.Settings;
        var wirePaths = Paths(withReference: true);
        var offloadPaths = Paths(withReference: false);
        var samples = new Samples();
        var tallies = new Dictionary<string, CounterTally>();
        var notes = new List<string>();
        var iperfRetries = new List<string>();
        BenchCluster? cluster = null;
        try
        {
            context.Progress("multinode-e2e: creating the cluster and starting the daemons on nodes a and b");
            cluster = BenchCluster.Create(context);
            notes.Add($"eth0 offload settings (`ethtool -k`) of the client, the nodes and the pods while the wire-sized figures were taken: {cluster.DescribeOffload()}.");
            notes.Add($"Daemon command line on node a (node b the same with `--hostname-override node-b`): `service-proxy {cluster.DaemonArguments(cluster.IngressNode)} --bpffs-root PINS`.");
            foreach (var path in wirePaths)
                Probe(cluster, path, context);

            for (var run = 0; run < settings.Runs; run++)
            {
                foreach (var path in Rotated(wirePaths, run))
                {
                    context.Cancellation.ThrowIfCancellationRequested();
                    var tally = Tally(tallies, path.Name);
                    var server = path.Role == PathRole.Direct ? cluster.DirectPod.Namespace : cluster.Backend.Namespace;
                    var (synsBefore, pawsBefore) = (TcpExt(cluster.ExternalNamespace, "TCPSynRetrans"), TcpExt(server, "PAWSTimewait"));
                    var shortRun = Measure(cluster, path, () => LoadGenerators.TimeRequests(path.Active(cluster, Port.Http, tally), null, keepAlive: false,
                        settings.MultiNodeRequestSeconds, settings.MultiNodeWarmup, context.Cancellation));
                    samples.Add(path, Metric.ShortSynRetransmits, TcpExt(cluster.ExternalNamespace, "TCPSynRetrans") - synsBefore);
                    samples.Add(path, Metric.ShortPawsTimewait, TcpExt(server, "PAWSTimewait") - pawsBefore);
                    var keptRun = Measure(cluster, path, () => LoadGenerators.TimeRequests(path.Active(cluster, Port.Http, tally), null, keepAlive: true,
                        settings.MultiNodeRequestSeconds, settings.MultiNodeWarmup, context.Cancellation));
                    var largeRun = Measure(cluster, path, () => LoadGenerators.TimeRequests(path.Active(cluster, Port.Large, tally), null, keepAlive: true,
                        settings.MultiNodeRequestSeconds, settings.MultiNodeWarmup, context.Cancellation, "/large"));
                    if (largeRun.BodyBytes != BenchCluster.LargeBodyBytes)
                        throw new InvalidOperationException($"{path.Name}: the large answers had {largeRun.BodyBytes} bytes, not {BenchCluster.LargeBodyBytes}");
                    var forward = Measure(cluster, path, () => LoadGenerators.Iperf(path.Active(cluster, Port.Iperf, tally), null,
                        IperfRun(settings, reverse: false), context.Cancellation));
                    var reverse = Measure(cluster, path, () => LoadGenerators.Iperf(path.Active(cluster, Port.Iperf, tally), null,
                        IperfRun(settings, reverse: true), context.Cancellation));
                    samples.Add(path, Metric.ShortRate, shortRun.Rate);
                    samples.Add(path, Metric.ShortP50, shortRun.P50Microseconds);
                    samples.Add(path, Metric.ShortP99, shortRun.P99Microseconds);
                    samples.Add(path, Metric.KeptRate, keptRun.Rate);
                    samples.Add(path, Metric.KeptP50, keptRun.P50Microseconds);
                    samples.Add(path, Metric.KeptP99, keptRun.P99Microseconds);
                    samples.Add(path, Metric.LargeRate, largeRun.Rate);
                    samples.Add(path, Metric.LargeP50, largeRun.P50Microseconds);
                    samples.Add(path, Metric.LargeP99, largeRun.P99Microseconds);
                    NoteRetries(iperfRetries, path, run, forward, reverse, offload: false);
                    samples.Add(path, Metric.IperfForward, forward.Gbps);
                    samples.Add(path, Metric.IperfReverse, reverse.Gbps);
                    samples.Add(path, Metric.IperfForwardRetransmits, forward.Retransmits);
                    samples.Add(path, Metric.IperfReverseRetransmits, reverse.Retransmits);
                    context.Progress($"multinode-e2e: run {run + 1}, {path.Name}: {shortRun.Rate:F0} conn/s (p99 {shortRun.P99Microseconds:F0} µs), " +
                        $"{keptRun.Rate:F0} req/s kept alive, {largeRun.Rate:F0} req/s of 64 KiB, iperf3 {forward.Gbps:F2} / -R {reverse.Gbps:F2} Gbit/s " +
                        $"({forward.Retransmits} / {reverse.Retransmits} retransmissions)");
                }
                cluster.SetSegmentationOffload(true);
                if (run == 0)
                    notes.Add($"eth0 offload settings while the TSO/GSO-on figures were taken: {cluster.DescribeOffload()}.");
                foreach (var path in Rotated(offloadPaths, run))
                {
                    context.Cancellation.ThrowIfCancellationRequested();
                    var tally = Tally(tallies, "offload: " + path.Name);
                    var forward = Measure(cluster, path, () => LoadGenerators.Iperf(path.Active(cluster, Port.Iperf, tally), null,
                        IperfRun(settings, reverse: false), context.Cancellation));
                    var reverse = Measure(cluster, path, () => LoadGenerators.Iperf(path.Active(cluster, Port.Iperf, tally), null,
                        IperfRun(settings, reverse: true), context.Cancellation));
                    NoteRetries(iperfRetries, path, run, forward, reverse, offload: true);
                    samples.Add(path, Metric.OffloadForward, forward.Gbps);
                    samples.Add(path, Metric.OffloadReverse, reverse.Gbps);
                    samples.Add(path, Metric.OffloadForwardRetransmits, forward.Retransmits);
                    samples.Add(path, Metric.OffloadReverseRetransmits, reverse.Retransmits);
                    context.Progress($"multinode-e2e: run {run + 1}, TSO/GSO on, {path.Name}: iperf3 {forward.Gbps:F2} / -R {reverse.Gbps:F2} Gbit/s " +
                        $"({forward.Retransmits} / {reverse.Retransmits} retransmissions)");
                }
                cluster.SetSegmentationOffload(false);
            }
        }
        finally
        {
            cluster?.Dispose();
        }

        notes.AddRange(tallies.Select(tally => $"Counters moved over all measured runs, {tally.Key}: {tally.Value.Describe()}."));
        notes.Add(iperfRetries.Count == 0
            ? "Every iperf3 run gave its result at the first attempt."
            : $"iperf3 gave no result at the first attempt (retried after 0.5 s; counters checked on the attempt measured) in: {string.Join("; ", iperfRetries)}.");
        var method = Method(settings);
        const string SameSetup = "Cluster, daemons, paths, turns and self-checks as in the section \"Across nodes from outside: a new connection per request\" above.";
        var tunnel = wirePaths.Single(path => path.Service?.Mode == "tunnel");
        var dsr = wirePaths.Single(path => path.Service?.Mode == "dsr");
        return
        [
            new ReportSection("Across nodes from outside: a new connection per request through another node's NodePort",
                method + " Client: `http_rr` (bench/native), one request at a time, each on a new connection (connect, `GET /` with `Connection: close`, " +
                "the whole answer); the figures are its rate and the per-connection latency (connect() to the answer's last byte). Detail: per run, the client's " +
                "SYN retransmissions (`TcpExtTCPSynRetrans` of its namespace) and the SYNs the server's pod refused because they hit a TIME_WAIT " +
                "socket of the same address pair with an older timestamp (`TcpExtPAWSTimewait`): a SYN lost costs the client a 1 s retransmission.",
                [
                    .. Rows(wirePaths, samples, Metric.ShortRate, "conn/s", null, detail: Metric.ShortSynRetransmits, versusReference: true),
                    .. Rows(wirePaths, samples, Metric.ShortP50, "µs", null, "p50: "),
                    .. Rows(wirePaths, samples, Metric.ShortP99, "µs", null, "p99: "),
                ]),
            new ReportSection("Across nodes from outside: requests on one kept-alive connection through another node's NodePort",
                SameSetup + " Client: `http_rr -k`, one connection kept alive, one request in flight (2-byte answers); rate and per-request round trip.",
                [
                    .. Rows(wirePaths, samples, Metric.KeptRate, "req/s", "≥ 0.9× direct", versusReference: true),
                    .. Rows(wirePaths, samples, Metric.KeptP50, "µs", null, "p50: "),
                    .. Rows(wirePaths, samples, Metric.KeptP99, "µs", null, "p99: "),
                ]),
            new ReportSection("Across nodes from outside: 64 KiB answers on one kept-alive connection (the reply path)",
                SameSetup + $" Client: `http_rr -k` against the server answering {BenchCluster.LargeBodyBytes:N0}-byte bodies (port 8081 or the mode's own), " +
                "one request in flight: most bytes travel backend → client, the path dsr shortens.",
                [
                    .. Rows(wirePaths, samples, Metric.LargeRate, "req/s", "≥ 0.9× direct", versusReference: true),
                    Versus(dsr, tunnel, samples, Metric.LargeRate, "req/s", "dsr ahead of tunnel (> 1×)"),
                    .. Rows(wirePaths, samples, Metric.LargeP50, "µs", null, "p50: "),
                    .. Rows(wirePaths, samples, Metric.LargeP99, "µs", null, "p99: "),
                ]),
            new ReportSection("Across nodes from outside: single-stream throughput (iperf3), wire-sized packets",
                SameSetup + $" Client: iperf3, one TCP stream, {IperfAmount(settings)}: client → backend (`iperf3 -c`), then backend → client (`-R`, the reply path).",
                [
                    .. Rows(wirePaths, samples, Metric.IperfForward, "Gbit/s", null, "client → backend: ", Metric.IperfForwardRetransmits, versusReference: true),
                    .. Rows(wirePaths, samples, Metric.IperfReverse, "Gbit/s", null, "backend → client (-R): ", Metric.IperfReverseRetransmits, versusReference: true),
                    Versus(dsr, tunnel, samples, Metric.IperfReverse, "Gbit/s", "dsr ahead of tunnel (> 1×)", "backend → client (-R): "),
                ]),
            new ReportSection("Across nodes from outside: single-stream throughput (iperf3) with TSO/GSO on",
                "The same cluster, daemons, Services and iperf3 runs as above, with TSO and GSO turned back on (`ethtool -K eth0 tso on gso on`, " +
                "the veth default) on every interface the harness turns them off on (the client's, the nodes' and the pods' `eth0`) for these " +
                "runs only, then off again: every run of each path takes its turn after the wire-sized ones. GRO stays off (also the veth " +
                "default: a veth does GRO only with NAPI, i.e. XDP or `ethtool -K gro on`): see the offload notes. Senders hand the veths " +
                "super-packets of up to 64 KiB; the tunnel encapsulates them as UDP-tunnel GSO packets (nothing segments them here: a veth " +
                "passes a GSO packet whole), so these figures spread the per-packet costs over up to ~45× fewer, larger packets (as TSO at the " +
                "sender and GRO at the receiver would on real NICs). " +
                "The two-hop reference is left out.",
                [
                    .. Rows(offloadPaths, samples, Metric.OffloadForward, "Gbit/s", null, "client → backend: ", Metric.OffloadForwardRetransmits),
                    .. Rows(offloadPaths, samples, Metric.OffloadReverse, "Gbit/s", null, "backend → client (-R): ", Metric.OffloadReverseRetransmits),
                    Versus(offloadPaths.Single(path => path.Service?.Mode == "dsr"), offloadPaths.Single(path => path.Service?.Mode == "tunnel"),
                        samples, Metric.OffloadReverse, "Gbit/s", "dsr ahead of tunnel (> 1×)", "backend → client (-R): "),
                ],
                notes),
        ];
    }

    /// <summary>A TcpExt counter of <paramref name="netns"/> (/proc/net/netstat read from inside it), e.g. <c>TCPSynRetrans</c>.</summary>
    private static long TcpExt(string netns, string name)
    {
        var lines = Dataplane.Tests.Netns.IpCommand.InNamespace(netns, "cat", "/proc/net/netstat").Split('\n');
        for (var i = 0; i + 1 < lines.Length; i++)
        {
            if (!lines[i].StartsWith("TcpExt:", StringComparison.Ordinal))
                continue;
            var names = lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var values = lines[i + 1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var index = Array.IndexOf(names, name);
            return index > 0 ? long.Parse(values[index], CultureInfo.InvariantCulture) : throw new InvalidOperationException($"no TcpExt {name} in {netns}");
        }
        throw new InvalidOperationException($"no TcpExt line in {netns}'s /proc/net/netstat");
    }

    private static void NoteRetries(List<string> retries, ClusterPath path, int run, IperfResult forward, IperfResult reverse, bool offload)
    {
        foreach (var (result, direction) in new[] { (forward, "client → backend"), (reverse, "-R") })
            if (result.FailedAttempts > 0)
                retries.Add($"run {run + 1}, {path.Service?.Mode ?? path.Role.ToString().ToLowerInvariant()}{(offload ? " (TSO/GSO on)" : "")}, {direction}: " +
                    $"{result.FailedAttempts} failed attempt(s) ({result.Failures})");
    }

    /// <summary>The paths in turn order for run <paramref name="run"/>: each run starts one path later, so that no path always comes first.</summary>
    private static IEnumerable<ClusterPath> Rotated(IReadOnlyList<ClusterPath> paths, int run) =>
        paths.Skip(run % paths.Count).Concat(paths.Take(run % paths.Count));

    private static IperfRun IperfRun(BenchSettings settings, bool reverse) =>
        new(settings.MultiNodeIperfSeconds, reverse, settings.MultiNodeIperfBytes);

    private static string IperfAmount(BenchSettings settings) => settings.MultiNodeIperfBytes is { } bytes
        ? $"{bytes:N0} bytes per run (`-n`)"
        : $"{settings.MultiNodeIperfSeconds} s per run";

    private static CounterTally Tally(Dictionary<string, CounterTally> tallies, string name) =>
        tallies.TryGetValue(name, out var tally) ? tally : tallies[name] = new CounterTally();

    /// <summary>Runs one measurement; when it fails, the error carries both daemons' logs and dumps.</summary>
    private static T Measure<T>(BenchCluster cluster, ClusterPath path, Func<T> measure)
    {
        try
        {
            return measure();
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            throw new InvalidOperationException($"{path.Name}{(cluster.SegmentationOffload ? " (TSO/GSO on)" : "")}: {error.Message}\n{cluster.Diagnostics()}", error);
        }
    }

    /// <summary>One request through the path, retried for up to 15 s: the path works before anything is timed.</summary>
    private static void Probe(BenchCluster cluster, ClusterPath path, BenchContext context)
    {
        var target = path.Target(cluster, Port.Http);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var result = Support.ExternalCommand.Run("ip", Support.ExternalCommand.InNamespace(cluster.ExternalNamespace, EndToEndNode.ClientCpu,
                EndToEndNode.HttpRequestResponseBinary, target.Address.ToString(), target.Port.ToString(CultureInfo.InvariantCulture), "-n", "1", "-w", "0"),
                TimeSpan.FromSeconds(10), context.Cancellation);
            if (result.ExitCode == 0)
                return;
            if (DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"{path.Name}{(cluster.SegmentationOffload ? " (TSO/GSO on)" : "")}: no answer from {target} " +
                    $"within 15 s: {result.Stderr.Trim()}\n{cluster.Diagnostics()}");
            Thread.Sleep(200);
        }
    }

    private static IEnumerable<ReportRow> Rows(IReadOnlyList<ClusterPath> paths, Samples samples, Metric metric, string unit, string? modeTarget,
        string prefix = "", Metric? detail = null, bool versusReference = false)
    {
        string? Detail(ClusterPath path)
        {
            if (detail is not { } counted)
                return null;
            string PerRun(Metric metric)
            {
                var count = samples.Of(path, metric, "");
                return $"{Measurement.Number(count.Median)} ({Measurement.Number(count.Min)}–{Measurement.Number(count.Max)})";
            }
            return counted == Metric.ShortSynRetransmits
                ? $"per run: client SYN retransmissions {PerRun(Metric.ShortSynRetransmits)}, SYNs the server refused in TIME_WAIT (PAWS) {PerRun(Metric.ShortPawsTimewait)}"
                : $"retransmissions per run {PerRun(counted)}";
        }
        var direct = samples.Of(paths[0], metric, unit);
        yield return new ReportRow(prefix + paths[0].Name, direct, Detail: Detail(paths[0]));
        foreach (var path in paths.Skip(1))
            yield return ReportRow.Versus(prefix + path.Name, samples.Of(path, metric, unit), "direct", direct,
                path.Role == PathRole.Ours ? modeTarget : null, Detail(path));
        if (!versusReference || paths.SingleOrDefault(path => path.Role == PathRole.Reference) is not { } reference)
            yield break;
        var twoHop = samples.Of(reference, metric, unit);
        foreach (var path in paths.Where(path => path.Role == PathRole.Ours))
            yield return ReportRow.Versus($"{prefix}{path.Service!.Mode} vs the two-hop reference", samples.Of(path, metric, unit), "two-hop", twoHop);
    }

    private static ReportRow Versus(ClusterPath path, ClusterPath baseline, Samples samples, Metric metric, string unit, string target, string prefix = "") =>
        ReportRow.Versus($"{prefix}{path.Service!.Mode} vs {baseline.Service!.Mode}", samples.Of(path, metric, unit), baseline.Service.Mode,
            samples.Of(baseline, metric, unit), target);

    private static string Method(BenchSettings settings) =>
        "The e2e harness's many-node topology (`tests/Dataplane.Tests/Netns/ClusterTopology.cs`, linked into the harness): an underlay " +
        "bridge (192.168.60.0/24) in its own namespace; nodes a, b, c (192.168.60.11–13), each a router namespace whose `eth0` is a port of " +
        "the bridge, with one pod behind a veth (Calico-style: pod i of node k holds 10.244.(k+1).(2+i)/32, gateway 169.254.1.1); every node " +
        "routes the other nodes' pod CIDRs via their addresses; the external client (192.168.60.100, on the bridge, no node) routes each pod " +
        "CIDR via its node. Wire-sized packets, as the harness sets them: TSO and GSO off on every pod's, node's and the client's `eth0` " +
        "(MTU 1500 everywhere), except in the TSO/GSO-on section. One manifest directory holds the three Node objects and three NodePort Services (externalTrafficPolicy " +
        "Cluster), one per mode by the annotation `proxy-replacement.io/external-service-mode: snat|tunnel|dsr`, whose only endpoint is pod " +
        "b0 on node b. The real daemon (`bin/service-proxy run`, a private bpffs each) runs on nodes a and b with the manifest directory, " +
        "`--hostname-override node-x`, `--host-interfaces eth0`, `--workload-interfaces` the pod veths and otherwise the defaults " +
        "(`--external-service-mode tunnel`, which every Service's annotation overrides; tunnel MTU auto: 1500 − 62 = 1438), and is measured " +
        "once both hold every NodePort frontend in its mode, their node address and the routes. Node c runs no daemon. Paths: **direct**: " +
        "the client to pod c0's IP, routed by node c (no program anywhere on the way: the baseline; the same shape as b0 via node b); " +
        "**two-hop reference**: the client to a second address of pod b0 (10.244.2.200), routed via node a then node b, and its replies " +
        "routed back via node a (a source rule on node b): the snat and tunnel paths' hops (bridge, node a, bridge, node b) both ways with " +
        "no Service, every packet passed by our programs on both nodes (`pr_tc_from_host`, `pr_tc_from_wl`), so a mode's gap to it is what " +
        "the mode itself costs, and its gap to direct what one more routed hop costs; " +
        "**snat / tunnel / dsr**: the client to node a's NodePort (192.168.60.11:nodePort): node a balances to b0 on node b and SNATs " +
        "(replies return to node a), or Geneve-encapsulates to node b (replies return through the tunnel to node a), or encapsulates with " +
        "the DSR option (replies leave node b straight to the client). Pods b0 and c0 run the same servers (`bench_httpd` with 2-byte " +
        "answers on 8080 and 64 KiB ones on 8081, iperf3 -s on 5201); pod b0 runs them again for each mode on that mode's own ports " +
        "(each port +10, +20 or +30: the Services' target ports), so that no two paths' flows meet on one backend address and " +
        "port: a client port reused towards another NodePort would hit the other flow's TIME_WAIT there. All servers are pinned to CPU 1, " +
        "the clients run in the external namespace pinned to CPU 0, the daemons unpinned. Before timing, one request through every path " +
        "must be answered. The runs take turns between the paths, each run starting one path later than the one before (no path always " +
        "comes first); each request-response run lasts " +
        $"{settings.MultiNodeRequestSeconds.ToString("0.##", CultureInfo.InvariantCulture)} s after {settings.MultiNodeWarmup} untimed " +
        "requests. Self-checks, from the daemons' pinned counters before and after each run of each path: direct: nothing crossed nodes a " +
        "or b (their `pass_no_service` and `nat_new_flow` did not move); two-hop: `pass_no_service` moved on both nodes, no NAT; snat: node " +
        "a's `nat_snat` and `nat_reverse` moved, no tunnel on either node; tunnel: node a's `tunnel_encap`, `tunnel_decap` and " +
        "`nat_reverse` moved, node b's `tunnel_decap` and `tunnel_encap` moved, no `dsr_reply`; dsr: node a's `tunnel_encap` moved and its " +
        "`nat_reverse` did not, node b's `tunnel_decap` and `dsr_reply` moved and its `tunnel_encap` did not (\"did not move\": by at most " +
        $"{StrayPackets} packets, the last packets of the previous path's connections closing). A run that took another way fails with both " +
        "daemons' logs and `service-proxy dump`; the counters moved over all runs of each path are in the notes of the last section.";

    private enum Port
    {
        Http,
        Large,
        Iperf,
    }

    private enum Metric
    {
        ShortRate,
        ShortP50,
        ShortP99,
        KeptRate,
        KeptP50,
        KeptP99,
        LargeRate,
        LargeP50,
        LargeP99,
        IperfForward,
        IperfReverse,
        OffloadForward,
        OffloadReverse,
        ShortSynRetransmits,
        ShortPawsTimewait,
        IperfForwardRetransmits,
        IperfReverseRetransmits,
        OffloadForwardRetransmits,
        OffloadReverseRetransmits,
    }

    private sealed class Samples
    {
        private readonly Dictionary<(string Path, Metric Metric), List<double>> _values = [];

        public void Add(ClusterPath path, Metric metric, double value)
        {
            if (!_values.TryGetValue((path.Name, metric), out var list))
                _values[(path.Name, metric)] = list = [];
            list.Add(value);
        }

        public Measurement Of(ClusterPath path, Metric metric, string unit) => new(unit, _values[(path.Name, metric)]);
    }

    /// <summary>A way from the external client to a server: direct (pod c0), the two-hop reference (pod b0's second address), or a mode's NodePort on node a.</summary>
    private sealed record ClusterPath(string Name, PathRole Role, ModeService? Service)
    {
        public IPEndPoint Target(BenchCluster cluster, Port port) => (Role, Service) switch
        {
            (PathRole.Direct, _) => new IPEndPoint(cluster.DirectPod.Address, PodPort(port)),
            (PathRole.Reference, _) => new IPEndPoint(cluster.TwoHopAddress, PodPort(port)),
            (_, { } service) => new IPEndPoint(cluster.IngressNode.Address, port switch
            {
                Port.Http => service.HttpNodePort,
                Port.Large => service.LargeNodePort,
                _ => service.IperfNodePort,
            }),
            _ => throw new InvalidOperationException($"path {Name} has no target"),
        };

        private static int PodPort(Port port) => port switch
        {
            Port.Http => BenchCluster.HttpPort,
            Port.Large => BenchCluster.LargePort,
            _ => BenchCluster.IperfPort,
        };

        /// <summary>The path as the load generators take it: its target, its client in the external namespace, its self-check.</summary>
        public IActivePath Active(BenchCluster cluster, Port port, CounterTally tally) =>
            new ExternalActivePath(Target(cluster, port), cluster.ExternalNamespace, () => new ClusterRunCheck(cluster, this, tally));

        /// <summary>Null when the moved counters show the path's way, else what is wrong.</summary>
        public string? Problem(Func<CounterReason, ulong> a, Func<CounterReason, ulong> b)
        {
            var wrong = new List<string>();
            void Expect(string node, Func<CounterReason, ulong> moved, CounterReason reason, bool shouldMove)
            {
                if (shouldMove ? moved(reason) == 0 : moved(reason) > StrayPackets)
                    wrong.Add($"node {node} {SnakeCase(reason)} moved by {moved(reason)} (expected {(shouldMove ? "> 0" : $"at most {StrayPackets}")})");
            }
            switch (Role, Service?.Mode)
            {
                case (PathRole.Direct, _):
                    Expect("a", a, CounterReason.PassNoService, false);
                    Expect("a", a, CounterReason.NatNewFlow, false);
                    Expect("b", b, CounterReason.PassNoService, false);
                    Expect("b", b, CounterReason.NatNewFlow, false);
                    break;
                case (PathRole.Reference, _):
                    Expect("a", a, CounterReason.PassNoService, true);
                    Expect("a", a, CounterReason.NatNewFlow, false);
                    Expect("b", b, CounterReason.PassNoService, true);
                    Expect("b", b, CounterReason.NatNewFlow, false);
                    break;
                case (_, "snat"):
                    Expect("a", a, CounterReason.NatSnat, true);
                    Expect("a", a, CounterReason.NatReverse, true);
                    Expect("a", a, CounterReason.TunnelEncap, false);
                    Expect("b", b, CounterReason.TunnelDecap, false);
                    Expect("b", b, CounterReason.DsrReply, false);
                    break;
                case (_, "tunnel"):
                    Expect("a", a, CounterReason.TunnelEncap, true);
                    Expect("a", a, CounterReason.TunnelDecap, true);
                    Expect("a", a, CounterReason.NatReverse, true);
                    Expect("b", b, CounterReason.TunnelDecap, true);
                    Expect("b", b, CounterReason.TunnelEncap, true);
                    Expect("b", b, CounterReason.DsrReply, false);
                    break;
                case (_, "dsr"):
                    Expect("a", a, CounterReason.TunnelEncap, true);
                    Expect("a", a, CounterReason.NatReverse, false);
                    Expect("b", b, CounterReason.TunnelDecap, true);
                    Expect("b", b, CounterReason.DsrReply, true);
                    Expect("b", b, CounterReason.TunnelEncap, false);
                    break;
            }
            return wrong.Count == 0 ? null : string.Join("; ", wrong);
        }
    }

    /// <summary>Reads both daemons' counters before a run and checks (and tallies) how they moved after it.</summary>
    private sealed class ClusterRunCheck : IRunCheck
    {
        private readonly BenchCluster _cluster;
        private readonly ClusterPath _path;
        private readonly CounterTally _tally;
        private readonly IReadOnlyDictionary<CounterReason, ulong> _a;
        private readonly IReadOnlyDictionary<CounterReason, ulong> _b;

        public ClusterRunCheck(BenchCluster cluster, ClusterPath path, CounterTally tally)
        {
            _cluster = cluster;
            _path = path;
            _tally = tally;
            _a = cluster.IngressDaemon.ReadCounters();
            _b = cluster.BackendDaemon.ReadCounters();
        }

        public void Verify(long connections, string run)
        {
            var a = _cluster.IngressDaemon.ReadCounters();
            var b = _cluster.BackendDaemon.ReadCounters();
            ulong MovedA(CounterReason reason) => a.GetValueOrDefault(reason) - _a.GetValueOrDefault(reason);
            ulong MovedB(CounterReason reason) => b.GetValueOrDefault(reason) - _b.GetValueOrDefault(reason);
            _tally.Add("a", a, _a);
            _tally.Add("b", b, _b);
            if (_path.Problem(MovedA, MovedB) is { } wrong)
                throw new InvalidOperationException($"{run} did not take the path '{_path.Name}': {wrong}");
        }
    }

    /// <summary>How far each counter of nodes a and b moved, summed over the runs of one path.</summary>
    private sealed class CounterTally
    {
        private readonly SortedDictionary<(string Node, CounterReason Reason), ulong> _moved = [];

        public void Add(string node, IReadOnlyDictionary<CounterReason, ulong> after, IReadOnlyDictionary<CounterReason, ulong> before)
        {
            foreach (var (reason, value) in after)
                if (value - before.GetValueOrDefault(reason) is var moved and > 0)
                    _moved[(node, reason)] = _moved.GetValueOrDefault((node, reason)) + moved;
        }

        public string Describe()
        {
            if (_moved.Count == 0)
                return "none on nodes a and b";
            return string.Join("; ", _moved.GroupBy(entry => entry.Key.Node).Select(node =>
                $"node {node.Key}: " + string.Join(", ", node.Select(entry => $"{SnakeCase(entry.Key.Reason)} +{entry.Value:N0}"))));
        }
    }

    private static string SnakeCase(CounterReason reason) => UpperCase().Replace(reason.ToString(), "_$1").TrimStart('_').ToLowerInvariant();

    [GeneratedRegex("([A-Z])")]
    private static partial Regex UpperCase();
}
