using System.Net;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Suites.EndToEnd;
using ProxyReplacement.Bench.Workload;

namespace ProxyReplacement.Bench.Suites;

/// <summary>
/// Real traffic in network namespaces: HTTP short-connection and keep-alive request rates, the duration of connect(),
/// and iperf3 single-stream throughput from a client pod to a backend pod, for every <see cref="IEndToEndPath"/>, at each
/// Service count.
/// Every path gets its own node (namespaces), all alive at once, and the runs take turns between the paths so
/// background load on the machine falls on all of them alike.
/// </summary>
public sealed class EndToEndSuite : IBenchSuite
{
    public const int ShortConnectionConcurrency = 8;

    /// <summary>The paths, the first being the baseline (no proxy).</summary>
    private static IReadOnlyList<IEndToEndPath> Paths() =>
        [new DirectPath(), new PodIpThroughOurTcPath(), new TcClusterIpPath(), new SocketClusterIpPath(), new IptablesClusterIpPath()];

    public string Name => "e2e";

    public IReadOnlyList<ReportSection> Run(BenchContext context)
    {
        var settings = context.Settings;
        var shortRows = new List<ReportRow>();
        var keepAliveRows = new List<ReportRow>();
        var iperfRows = new List<ReportRow>();
        var latencyRows = new List<ReportRow>();
        var latencyNotes = new List<string>();
        foreach (var services in settings.EndToEndServiceCounts)
        {
            var paths = Paths();
            var nodes = new List<EndToEndNode>();
            var active = new List<IActivePath>();
            try
            {
                var measured = services / 2;
                foreach (var path in paths)
                {
                    context.Cancellation.ThrowIfCancellationRequested();
                    var node = EndToEndNode.Create();
                    nodes.Add(node);
                    var endpoints = node.Endpoints;
                    var cluster = new SyntheticServices(services, EndToEndNode.EndpointCount,
                        (i, j) => i == measured ? endpoints[j] : SyntheticServices.DefaultEndpoint(i, j));
                    context.Progress($"e2e: {services} Services: preparing {path.Name}");
                    active.Add(path.Prepare(node, cluster, measured, context));
                    node.StartServer(ServerKind.Http, context.Cancellation);
                }

                var shortRates = paths.ToDictionary(p => p, _ => new List<double>());
                var keepAliveRates = paths.ToDictionary(p => p, _ => new List<double>());
                for (var run = 0; run < settings.Runs; run++)
                    for (var p = 0; p < paths.Count; p++)
                    {
                        context.Cancellation.ThrowIfCancellationRequested();
                        shortRates[paths[p]].Add(LoadGenerators.Wrk(active[p], nodes[p], ShortConnectionConcurrency, shortConnections: true,
                            settings.EndToEndSeconds, context.Cancellation));
                        keepAliveRates[paths[p]].Add(LoadGenerators.Wrk(active[p], nodes[p], 1, shortConnections: false,
                            settings.EndToEndSeconds, context.Cancellation));
                        context.Progress($"e2e: {services} Services, run {run + 1}, {paths[p].Name}: " +
                            $"{shortRates[paths[p]][^1]:F0} short conn/s, {keepAliveRates[paths[p]][^1]:F0} req/s kept alive");
                    }

                // connect() to the same HTTP server: it accepts each connection and drops it at the client's RST.
                var latencies = paths.ToDictionary(p => p, _ => new List<ConnectLatency>());
                for (var run = 0; run < settings.Runs; run++)
                    for (var p = 0; p < paths.Count; p++)
                    {
                        context.Cancellation.ThrowIfCancellationRequested();
                        var latency = LoadGenerators.TimeConnects(active[p], nodes[p], settings.EndToEndSeconds, settings.ConnectLatencyWarmup,
                            context.Cancellation);
                        latencies[paths[p]].Add(latency);
                        context.Progress($"e2e: {services} Services, run {run + 1}, {paths[p].Name}: connect() p50 " +
                            $"{latency.P50Microseconds:F1} µs, p99 {latency.P99Microseconds:F1} µs over {latency.Connects} connects");
                    }

                foreach (var node in nodes)
                    node.StartServer(ServerKind.Iperf, context.Cancellation);
                var throughput = paths.ToDictionary(p => p, _ => new List<double>());
                for (var run = 0; run < settings.Runs; run++)
                    for (var p = 0; p < paths.Count; p++)
                    {
                        context.Cancellation.ThrowIfCancellationRequested();
                        throughput[paths[p]].Add(LoadGenerators.Iperf(active[p], nodes[p], settings.EndToEndSeconds, context.Cancellation));
                        context.Progress($"e2e: {services} Services, run {run + 1}, {paths[p].Name}: {throughput[paths[p]][^1]:F2} Gbit/s");
                    }

                var label = services == 1 ? "1 Service" : $"{services:N0} Services";
                shortRows.AddRange(Rows(label, paths, shortRates, "conn/s", OursVersusDirectTarget(services), OursVersusIptablesTarget(services)));
                keepAliveRows.AddRange(Rows(label, paths, keepAliveRates, "req/s", null, null));
                iperfRows.AddRange(Rows(label, paths, throughput, "Gbit/s", null, null));
                latencyRows.AddRange(Rows($"{label}, p50", paths,
                    latencies.ToDictionary(l => l.Key, l => l.Value.Select(r => r.P50Microseconds).ToList()), "µs", null, null));
                latencyRows.AddRange(Rows($"{label}, p99", paths,
                    latencies.ToDictionary(l => l.Key, l => l.Value.Select(r => r.P99Microseconds).ToList()), "µs", null, null));
                latencyNotes.Add($"{label}: connections timed per run: " + string.Join("; ", paths.Select(path =>
                    $"{path.Name} {Measurement.Number(latencies[path].Min(r => r.Connects))}–{Measurement.Number(latencies[path].Max(r => r.Connects))}" +
                    $" (mean of the runs' means {Measurement.Number(latencies[path].Average(r => r.MeanMicroseconds))} µs)")));
            }
            finally
            {
                var failures = new List<Exception>();
                foreach (var path in active)
                    Attempt(path.Dispose, failures);
                foreach (var node in nodes)
                    Attempt(node.Dispose, failures);
                if (failures.Count > 0)
                    throw new AggregateException("end-to-end cleanup failed", failures);
            }
        }
        return
        [
            new ReportSection("End to end: short connections (connect, request, close)", Method(settings, "short"), shortRows),
            new ReportSection("End to end: requests on one kept-alive connection", Method(settings, "keep-alive"), keepAliveRows),
            new ReportSection("End to end: connect() latency", Method(settings, "connect"), latencyRows, latencyNotes),
            new ReportSection("End to end: single-stream throughput (iperf3)", Method(settings, "iperf"), iperfRows),
        ];
    }

    private static string? OursVersusDirectTarget(int services) => "≥ 0.95× direct";

    private static string? OursVersusIptablesTarget(int services) => services >= 10_000 ? "≥ 1.4× iptables at 10k Services" : null;

    /// <summary>Each path against the direct path, then each of ours against each iptables path.</summary>
    private static IEnumerable<ReportRow> Rows(string label, IReadOnlyList<IEndToEndPath> paths, Dictionary<IEndToEndPath, List<double>> samples,
        string unit, string? oursVersusDirectTarget, string? oursVersusIptablesTarget)
    {
        var directPath = paths.Single(path => path.Role == PathRole.Direct);
        var direct = new Measurement(unit, samples[directPath]);
        yield return new ReportRow($"{label}: {directPath.Name}", direct);
        foreach (var path in paths.Where(path => path.Role != PathRole.Direct))
            yield return ReportRow.Versus($"{label}: {path.Name}", new Measurement(unit, samples[path]), "direct", direct,
                path.Role == PathRole.Ours ? oursVersusDirectTarget : null);
        foreach (var ours in paths.Where(path => path.Role == PathRole.Ours))
            foreach (var baseline in paths.Where(path => path.Role == PathRole.Iptables))
                yield return ReportRow.Versus($"{label}: {ours.Name} vs {baseline.Name}", new Measurement(unit, samples[ours]), "iptables",
                    new Measurement(unit, samples[baseline]), oursVersusIptablesTarget);
        foreach (var ours in paths.Where(path => path.Role == PathRole.Ours))
            foreach (var reference in paths.Where(path => path.Role == PathRole.Reference))
                yield return ReportRow.Versus($"{label}: {ours.Name} vs {reference.Name}", new Measurement(unit, samples[ours]), "pod IP",
                    new Measurement(unit, samples[reference]), null);
    }

    private static void Attempt(Action step, List<Exception> failures)
    {
        try
        {
            step();
        }
        catch (Exception error)
        {
            failures.Add(error);
        }
    }

    private static string Method(BenchSettings settings, string kind)
    {
        var common = "Each path runs on its own one-node topology of network namespaces (a node namespace routing between a client pod " +
            "and a backend pod over veth pairs; see tests/Dataplane.Tests/Netns/NodeTopology.cs). The backend pod holds " +
            $"{EndToEndNode.EndpointCount} addresses, the {EndToEndNode.EndpointCount} endpoints of the measured Service (the one in the " +
            "middle of N: with iptables, a packet to it walks half of KUBE-SERVICES); the other Services point at addresses nothing " +
            "uses. Paths: **direct** to the first endpoint's pod IP, no program and no rule (the baseline); **pod IP on a node running " +
            "ours**: the same target, with the dataplane of the TC path below loaded and attached, so every packet takes the TC " +
            "program's pass-through (what pod-to-pod traffic pays once the proxy is installed, and the floor of the socket path, whose " +
            "packets take the same pass-through; our paths are also compared with it, which isolates what the Service translation " +
            "adds); **ClusterIP, TC path**: the " +
            "core dataplane loaded with the N Services programmed through the Syncer, `pr_tc_from_wl` attached at TC ingress of the node " +
            "side of both pod veths (as the daemon attaches it); **ClusterIP, socket path**: the same, plus connect-time balancing as " +
            "the daemon sets it up: socket LB mode `tcp` and the cgroup `connect4`, `sendmsg4`, `recvmsg4` and `getpeername4` programs " +
            "attached to a scratch cgroup (`prt-xxxx-sock` under the cgroup v2 mount, removed afterwards); every client process of this " +
            "path starts in that cgroup (its shell writes its pid into `cgroup.procs`, then execs `ip netns exec`), so its connect() to " +
            "the ClusterIP is rewritten to a backend and the packets carry the pod address from the SYN on (the TC program passes them); " +
            "**ClusterIP, iptables**: kube-proxy's iptables-mode ruleset for the same N " +
            "Services (the control-plane suite's model, jump rules included) restored into the node namespace with iptables-nft, " +
            "Debian's default, and conntrack doing the rest. Placement on the 2 CPUs: the client is pinned to CPU 0 and the server to " +
            "CPU 1 (`taskset`); a veth hands packets to the receiving side's backlog on the *sending* CPU, so client→server work (TC " +
            "program or iptables, routing) runs on CPU 0 with the client, server→client work on CPU 1 with the server, and neither " +
            "process competes with its own softirq on the other CPU. The runs take turns between the paths " +
            $"(run 1 of each path, then run 2, ...), {settings.EndToEndSeconds} s each. Each run checks from the dataplane's counters " +
            "that its traffic took its path, and fails otherwise: to the pod IP on a node running ours `pass_no_service` moved and " +
            "neither `nat_new_flow` nor `sock_connect` did; through the TC path `nat_new_flow` moved and `sock_connect` did not; " +
            "through the socket path `sock_connect` moved by at least the connections the client made, `nat_new_flow` did not move and " +
            "the conntrack map `pr_ct4` stayed empty.";
        return kind switch
        {
            "short" => common + $" Client: wrk (C, epoll; one thread, {ShortConnectionConcurrency} connections) sending " +
                "`Connection: close`, so every request is a new TCP connection (SYN, request, answer, FIN both ways; wrk reconnects). " +
                "Server: `bench/native/bench_httpd` (one epoll thread, a fixed 2-byte answer), chosen over a .NET server so that neither " +
                "end's user space hides the per-packet differences. The client namespace reuses TIME_WAIT ports (tcp_tw_reuse) from " +
                "1024–65535. A run fails on socket errors or non-200 answers.",
            "keep-alive" => common + " Client: wrk with one connection kept alive, one request in flight at a time (a round-trip " +
                "rate, like netperf TCP_RR); the same server.",
            "connect" => common + " Client: `bench/native/connect_latency` (C), one connection at a time: socket(), then a blocking " +
                "connect() timed with CLOCK_MONOTONIC immediately before and after it, then close() with SO_LINGER 0 (an RST, so no " +
                "TIME_WAIT port piles up and every connect() starts from the same state; how the previous connection ended is outside " +
                $"the timed span). {settings.ConnectLatencyWarmup:N0} untimed connections first (cold caches, neighbour entries), then " +
                $"{settings.EndToEndSeconds} s of timed ones. The span is the whole system call: the cgroup connect4 hook (socket path), " +
                "the route lookup, the SYN through the client veth into the node namespace (our TC program, or iptables' nat chains " +
                "and conntrack) and on to the backend pod, whose kernel answers SYN-ACK (the server process only accepts afterwards), " +
                "the SYN-ACK back (reverse NAT on the TC and iptables paths) and the client's kernel completing the handshake. Per run " +
                "the p50 and p99 over all its timed connections (nearest rank); the figure is the median over the runs of that " +
                "percentile, with (min–max). Lower is better: a ratio above 1× is slower than direct. The server is the HTTP server " +
                "of the rate rows, which accepts each connection and closes it at the RST.",
            _ => common + " iperf3 -s in the backend pod (on the port the HTTP server used, which is stopped for this part), " +
                "iperf3 -c from the client pod to the path's target, one TCP stream; the figure is the received rate.",
        };
    }
}
