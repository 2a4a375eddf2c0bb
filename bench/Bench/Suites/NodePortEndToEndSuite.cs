using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Suites.EndToEnd;
using ProxyReplacement.Bench.Workload;
using ProxyReplacement.Dataplane.Tests.Netns;

namespace ProxyReplacement.Bench.Suites;

/// <summary>
/// Real traffic from a client outside the node through a NodePort: HTTP short-connection and keep-alive request rates
/// from the external client namespace to nodeIP:nodePort with the real daemon, against the same client straight to the
/// pod IP, and against kube-proxy's iptables NodePort rules, in the same run. Every path gets its own node (namespaces),
/// all alive at once, and the runs take turns between the paths, as in <see cref="EndToEndSuite"/>.
/// </summary>
public sealed class NodePortEndToEndSuite : IBenchSuite
{
    /// <summary>The paths, the first being the baseline (no proxy).</summary>
    private static IReadOnlyList<INodePortPath> Paths() =>
        [new ExternalDirectPath(), new ExternalPodIpOnOurNodePath(), new NodePortOursPath(), new NodePortIptablesPath()];

    public string Name => "nodeport-e2e";

    public IReadOnlyList<ReportSection> Run(BenchContext context)
    {
        var settings = context.Settings;
        var shortRows = new List<ReportRow>();
        var keepAliveRows = new List<ReportRow>();
        var notes = new List<string>();
        foreach (var services in settings.NodePortEndToEndServiceCounts)
        {
            var paths = Paths();
            var nodes = new List<EndToEndNode>();
            var active = new List<IActivePath>();
            try
            {
                var nodePorts = Math.Min(services, SyntheticServices.NodePortRangeSize);
                // the NodePort in the middle of KUBE-NODEPORTS (after all of KUBE-SERVICES, which a NodePort packet walks in full)
                var measured = nodePorts / 2;
                foreach (var path in paths)
                {
                    context.Cancellation.ThrowIfCancellationRequested();
                    var node = EndToEndNode.Create();
                    nodes.Add(node);
                    var external = AddExternalClient(node);
                    var endpoints = node.Endpoints;
                    var cluster = new SyntheticServices(services, EndToEndNode.EndpointCount,
                        (i, j) => i == measured ? endpoints[j] : SyntheticServices.DefaultEndpoint(i, j), nodePorts);
                    context.Progress($"nodeport-e2e: {services} Services: preparing {path.Name}");
                    active.Add(path.Prepare(node, external, cluster, measured, context));
                    node.StartServer(ServerKind.Http, context.Cancellation);
                }

                var shortRates = paths.ToDictionary(p => p, _ => new List<double>());
                var keepAliveRates = paths.ToDictionary(p => p, _ => new List<double>());
                for (var run = 0; run < settings.Runs; run++)
                    for (var p = 0; p < paths.Count; p++)
                    {
                        context.Cancellation.ThrowIfCancellationRequested();
                        shortRates[paths[p]].Add(LoadGenerators.Wrk(active[p], nodes[p], EndToEndSuite.ShortConnectionConcurrency, shortConnections: true,
                            settings.EndToEndSeconds, context.Cancellation));
                        keepAliveRates[paths[p]].Add(LoadGenerators.Wrk(active[p], nodes[p], 1, shortConnections: false,
                            settings.EndToEndSeconds, context.Cancellation));
                        context.Progress($"nodeport-e2e: {services} Services, run {run + 1}, {paths[p].Name}: " +
                            $"{shortRates[paths[p]][^1]:F0} short conn/s, {keepAliveRates[paths[p]][^1]:F0} req/s kept alive");
                    }

                var label = services == 1 ? "1 Service" : $"{services:N0} Services";
                shortRows.AddRange(Rows(label, paths, shortRates, "conn/s", "≥ 0.95× direct"));
                keepAliveRows.AddRange(Rows(label, paths, keepAliveRates, "req/s", "≥ 0.95× direct"));
                notes.Add($"{label}: {nodePorts:N0} of them NodePort Services; the measured one is number {measured:N0} " +
                    $"(nodePort {SyntheticServices.NodePortOf(measured)}).");
            }
            finally
            {
                var failures = new List<Exception>();
                foreach (var path in active)
                    Attempt(path.Dispose, failures);
                foreach (var node in nodes)
                    Attempt(node.Dispose, failures);
                if (failures.Count > 0)
                    throw new AggregateException("NodePort end-to-end cleanup failed", failures);
            }
        }
        return
        [
            new ReportSection("End to end from outside the node: short connections through a NodePort", Method(settings, shortConnections: true), shortRows, notes),
            new ReportSection("End to end from outside the node: requests on one kept-alive connection through a NodePort", Method(settings, shortConnections: false), keepAliveRows),
        ];
    }

    /// <summary>
    /// The external client (its namespace on the node's host interface <c>{prefix}up0</c>), routing the pod network via
    /// the node for the direct path, with the client pod's settings for short connections.
    /// </summary>
    private static ExternalClient AddExternalClient(EndToEndNode node)
    {
        var external = node.Topology.AddExternalClient();
        IpCommand.Ip("-n", external.Namespace, "route", "add", "10.201.0.0/16", "via", external.NodeAddress.ToString());
        IpCommand.Sysctl(external.Namespace, "net.ipv4.ip_local_port_range", "1024 65535");
        IpCommand.Sysctl(external.Namespace, "net.ipv4.tcp_tw_reuse", "1");
        return external;
    }

    /// <summary>Each path against the direct path, then ours against the iptables path and against the pass-through reference.</summary>
    private static IEnumerable<ReportRow> Rows(string label, IReadOnlyList<INodePortPath> paths, Dictionary<INodePortPath, List<double>> samples,
        string unit, string oursVersusDirectTarget)
    {
        var directPath = paths.Single(path => path.Role == PathRole.Direct);
        var direct = new Measurement(unit, samples[directPath]);
        yield return new ReportRow($"{label}: {directPath.Name}", direct);
        foreach (var path in paths.Where(path => path.Role != PathRole.Direct))
            yield return ReportRow.Versus($"{label}: {path.Name}", new Measurement(unit, samples[path]), "direct", direct,
                path.Role == PathRole.Ours ? oursVersusDirectTarget : null);
        foreach (var ours in paths.Where(path => path.Role == PathRole.Ours))
        {
            foreach (var baseline in paths.Where(path => path.Role == PathRole.Iptables))
                yield return ReportRow.Versus($"{label}: {ours.Name} vs {baseline.Name}", new Measurement(unit, samples[ours]), "iptables",
                    new Measurement(unit, samples[baseline]));
            foreach (var reference in paths.Where(path => path.Role == PathRole.Reference))
                yield return ReportRow.Versus($"{label}: {ours.Name} vs {reference.Name}", new Measurement(unit, samples[ours]), "pod IP",
                    new Measurement(unit, samples[reference]));
        }
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

    private static string Method(BenchSettings settings, bool shortConnections)
    {
        var common = "Each path runs on its own one-node topology (the e2e suite's: a node namespace routing to a backend pod that holds " +
            $"the {EndToEndNode.EndpointCount} endpoint addresses of the measured Service) plus an **external client**: a namespace outside " +
            "the node and the pod network, on a veth whose node side `{prefix}up0` holds the node address 192.168.77.1 (the client is " +
            "192.168.77.2; see `NodeTopology.AddExternalClient`); the client routes the pod network 10.201.0.0/16 via the node. N Services " +
            $"× {EndToEndNode.EndpointCount} endpoints, of which the first min(N, {SyntheticServices.NodePortRangeSize:N0}) are type NodePort " +
            "(nodePort 30000 + i; the default range holds no more); the measured Service is the NodePort in the middle of those, its " +
            "endpoints the backend pod's addresses, the other Services point at addresses nothing uses. Paths: **direct**: the external " +
            "client to the first endpoint's pod IP, forwarded by the node, no program and no rule (the baseline); **pod IP, node running " +
            "our daemon**: the same target on a node where the daemon runs, so every packet takes a pass-through (`pr_tc_from_host` in, " +
            "`pr_tc_from_wl` back; the reference that isolates what the NodePort translation adds); **NodePort, our daemon**: the real " +
            "daemon (`bin/service-proxy run`, in the node namespace, a manifest directory of the N Services, a private bpffs as " +
            "`--bpffs-root`, `--workload-interfaces` the pod veths, `--host-interfaces {prefix}up0`, default NodePort addresses, no " +
            "cgroup so no socket hooks), measured once the measured Service's NodePort frontend is pinned with its backends; the " +
            "client connects to 192.168.77.1:nodePort: `pr_tc_from_host` DNATs the SYN to a backend with conntrack, the backend's " +
            "replies are reverse-NATed at its veth by `pr_tc_from_wl` and routed by the program (FIB lookup, `bpf_redirect_neigh`) " +
            "out of `up0`; the client's address is kept (no SNAT); **NodePort, iptables**: kube-proxy's iptables-mode ruleset for the " +
            "same cluster restored into the node namespace with iptables-nft (`bench/Bench/Baseline/KubeProxyRuleset.cs`: the ClusterIP " +
            "rules plus, per NodePort, a `KUBE-NODEPORTS` rule reached from the last rule of `KUBE-SERVICES` (`addrtype --dst-type " +
            "LOCAL`) and a `KUBE-EXT-…` chain that marks for masquerade and jumps to `KUBE-SVC-…`): the first packet walks all of " +
            "KUBE-SERVICES, then KUBE-NODEPORTS to the measured rule, is DNATed and masqueraded to the node's address on the pod " +
            "veth (externalTrafficPolicy: Cluster), conntrack does the rest. Placement: the client (in the external namespace) is " +
            "pinned to CPU 0, the server (the e2e suite's `bench_httpd`) to CPU 1; the daemons run unpinned (idle between their " +
            "periodic resyncs). The runs take turns between the paths, " +
            $"{settings.EndToEndSeconds} s each. Each run of our paths checks the daemon's pinned counters: through the NodePort " +
            "`nat_new_flow` and `nat_reverse` moved; to the pod IP `pass_no_service` moved and `nat_new_flow` did not. A wrong " +
            "path on the iptables or direct side shows as refused connections, which fail the run.";
        return shortConnections
            ? common + $" Client: wrk (one thread, {EndToEndSuite.ShortConnectionConcurrency} connections) sending `Connection: close`, " +
              "so every request is a new TCP connection (a new NodePort flow); the client namespace reuses TIME_WAIT ports from 1024–65535. " +
              "A run fails on socket errors or non-200 answers."
            : common + " Client: wrk with one connection kept alive, one request in flight at a time (a round-trip rate).";
    }
}
