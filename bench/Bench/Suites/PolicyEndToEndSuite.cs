using System.Globalization;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Suites.EndToEnd;

namespace ProxyReplacement.Bench.Suites;

/// <summary>
/// NetworkPolicy end to end (issue #17), on the e2e harness's topology with the real daemons (<see cref="PolicyBenchCluster"/>):
/// (a) short connections (http_rr, a new connection per request) from a pod on node a to a pod on node b, with policy off
/// (<c>--network-policy=false</c>) against policy on with one policy of ten ingress and ten egress rules selecting both
/// pods, in two clusters side by side (one per mode, no restarts between measurements), turns alternating within the run; (b) the time from a policy change (the manifest file replaced) to its
/// enforcement, seen by connection attempts every 5 ms (<see cref="EnforcementTimer"/>), with 1,000 policies present,
/// allow → deny and deny → allow, per run. Every measurement first checks that the daemons enforce (or do not) as
/// their mode says. Needs a daemon with the policy module: without it the suite fails at once, saying so.
/// </summary>
public sealed class PolicyEndToEndSuite : IBenchSuite
{
    /// <summary>1,000 policies: 100 namespaces of 10 (<see cref="PolicyBenchManifests.Filler"/>), the measured one beside them.</summary>
    private const int FillerNamespaces = 100;
    private const int FillerPoliciesPerNamespace = 10;

    public string Name => "policy-e2e";

    public IReadOnlyList<ReportSection> Run(BenchContext context)
    {
        PolicyBenchCluster.RequirePolicyModule();
        var settings = context.Settings;
        var runs = Math.Max(settings.Runs, settings.Smoke ? 1 : 5);
        var allow = PolicyBenchManifests.MeasuredPolicy(PolicyBenchCluster.ServedPort, PolicyBenchCluster.OtherPort, "client");
        var deny = PolicyBenchManifests.MeasuredPolicy(PolicyBenchCluster.ServedPort, PolicyBenchCluster.OtherPort, "nobody");
        var shortRate = new Dictionary<bool, List<double>> { [false] = [], [true] = [] };
        var shortP50 = new Dictionary<bool, List<double>> { [false] = [], [true] = [] };
        var shortP99 = new Dictionary<bool, List<double>> { [false] = [], [true] = [] };
        var toDenied = new List<double>();
        var toAllowed = new List<double>();
        var notes = new List<string>();
        var clusters = new Dictionary<bool, PolicyBenchCluster>();
        try
        {
            // (a) short connections: one cluster per mode, side by side, both idle between their turns (no daemon restarts
            // between measurements); off first in even runs, on first in odd ones
            foreach (var policy in new[] { false, true })
            {
                context.Progress($"policy-e2e: creating the policy-{(policy ? "on" : "off")} cluster (nodes a and b, client pod a0, server pod b0) and its daemons");
                clusters[policy] = PolicyBenchCluster.Create(policy, context);
            }
            var on = clusters[true];
            notes.Add($"Daemon command line on node a, policy on: `service-proxy {on.DescribeArguments(on.ClientNode, policy: true)} --bpffs-root PINS`; " +
                      "policy off adds `--network-policy=false`; node b the same with `--hostname-override node-b`.");
            for (var run = 0; run < runs; run++)
            {
                foreach (var policy in run % 2 == 0 ? new[] { false, true } : [true, false])
                {
                    context.Cancellation.ThrowIfCancellationRequested();
                    var cluster = clusters[policy];
                    cluster.CheckEnforcement(context.Cancellation);
                    var path = new ExternalActivePath(cluster.Served, cluster.Client.Namespace);
                    var result = LoadGenerators.TimeRequests(path, null, keepAlive: false, settings.MultiNodeRequestSeconds,
                        settings.MultiNodeWarmup, context.Cancellation);
                    shortRate[policy].Add(result.Rate);
                    shortP50[policy].Add(result.P50Microseconds);
                    shortP99[policy].Add(result.P99Microseconds);
                    context.Progress($"policy-e2e: run {run + 1}, policy {(policy ? "on (10 rules)" : "off")}: {result.Rate:F0} conn/s, " +
                                     $"p50 {result.P50Microseconds:F0} µs, p99 {result.P99Microseconds:F0} µs");
                }
            }
            clusters[false].Dispose();
            clusters.Remove(false);

            // (b) time to enforcement with 1,000 policies present (the daemons restarted with them, so all are compiled)
            context.Progress($"policy-e2e: writing {FillerNamespaces * FillerPoliciesPerNamespace} filler policies and restarting the policy-on daemons");
            on.Write(PolicyBenchCluster.FillerFile, PolicyBenchManifests.Filler(FillerNamespaces, FillerPoliciesPerNamespace));
            var clock = System.Diagnostics.Stopwatch.StartNew();
            on.StartDaemons(policy: true, context, TimeSpan.FromMinutes(3));
            on.CheckEnforcement(context.Cancellation);
            notes.Add($"With the 1,001 policies present, the daemons were started and enforcing the measured policy in {clock.Elapsed.TotalSeconds:F1} s.");
            for (var run = 0; run < runs; run++)
            {
                var denied = EnforcementTimer.TimeAsync(on.Client.Namespace, on.Served, reachable: false,
                    () => on.Write(PolicyBenchCluster.PolicyFile, deny), TimeSpan.FromSeconds(30), context.Cancellation).GetAwaiter().GetResult();
                var allowed = EnforcementTimer.TimeAsync(on.Client.Namespace, on.Served, reachable: true,
                    () => on.Write(PolicyBenchCluster.PolicyFile, allow), TimeSpan.FromSeconds(30), context.Cancellation).GetAwaiter().GetResult();
                toDenied.Add(denied.TotalMilliseconds);
                toAllowed.Add(allowed.TotalMilliseconds);
                context.Progress($"policy-e2e: run {run + 1}: allow -> deny enforced after {denied.TotalMilliseconds:F0} ms, " +
                                 $"deny -> allow after {allowed.TotalMilliseconds:F0} ms");
            }
        }
        catch (Exception) when (!context.Cancellation.IsCancellationRequested)
        {
            foreach (var cluster in clusters.Values)
                context.Log.WriteLine(cluster.Diagnostics());
            throw;
        }
        finally
        {
            foreach (var cluster in clusters.Values)
                cluster.Dispose();
        }

        Measurement Of(List<double> samples, string unit) => new(unit, samples);
        var off = Of(shortRate[false], "conn/s");
        var shortSection = new ReportSection(
            "NetworkPolicy across nodes: a new connection per request, policy off vs on (10 rules each way)",
            ShortMethod(settings, runs),
            [
                new ReportRow("policy off (--network-policy=false)", off),
                ReportRow.Versus("policy on, 10 ingress + 10 egress rules", Of(shortRate[true], "conn/s"), "off", off),
                new ReportRow("policy off: p50 per request", Of(shortP50[false], "µs")),
                ReportRow.Versus("policy on: p50 per request", Of(shortP50[true], "µs"), "off", Of(shortP50[false], "µs")),
                new ReportRow("policy off: p99 per request", Of(shortP99[false], "µs")),
                ReportRow.Versus("policy on: p99 per request", Of(shortP99[true], "µs"), "off", Of(shortP99[false], "µs")),
            ],
            notes);
        var latencySection = new ReportSection(
            "NetworkPolicy: from a policy change to enforcement, 1,000 policies present",
            LatencyMethod(runs),
            [
                new ReportRow("allow → deny (the measured flow's rule removed)", Of(toDenied, "ms")),
                new ReportRow("deny → allow (the rule back)", Of(toAllowed, "ms")),
            ]);
        return [shortSection, latencySection];
    }

    private static string ShortMethod(BenchSettings settings, int runs) =>
        "The e2e harness's many-node topology (`tests/Dataplane.Tests/Netns/ClusterTopology.cs`) with two nodes (192.168.60.11 and .12 on " +
        "an underlay bridge, CNI routes between their pod CIDRs) and one pod each: the client a0 (10.244.1.2) on node a and the server b0 " +
        "(10.244.2.2) on node b, running `bench_httpd` on 8080 (2-byte answers) and on 8090, pinned to CPU 1; wire-sized packets (TSO/GSO " +
        "off). One manifest directory: the Nodes, namespace `bench` with both Pods (IP, node, labels `role: client|server`, phase Running) " +
        "and one NetworkPolicy selecting both pods, policyTypes Ingress and Egress, with 10 ingress rules (9 from 10.99.k.0/24 on TCP " +
        "9001–9009, the tenth from pods `role: client` on TCP 8080) and 10 egress rules (9 to 10.98.k.0/24 on TCP 9101–9109, the tenth to " +
        "pods `role: server` on TCP 8080 and 8090). The real daemon (`bin/service-proxy run`, a private bpffs each) runs on both nodes, " +
        "in two such clusters side by side, one with policy on (the default) and one with it off (`--network-policy=false`), each " +
        "started once (with policy on, ready once node a's `pr_pol_ep4` holds the client's egress rule set and node b's the server's " +
        "ingress one) and idle while the other is measured. Before each measurement: " +
        "the client must reach 8080, and 8090 (admitted by no ingress rule) must answer with policy off and get no answer within 0.5 s " +
        "with policy on. The client, bench/native's `http_rr` in pod a0 pinned to CPU 0, makes one request at a time, each on a new " +
        $"connection, for {settings.MultiNodeRequestSeconds.ToString("0.##", CultureInfo.InvariantCulture)} s after " +
        $"{settings.MultiNodeWarmup} untimed ones (tcp_tw_reuse on in the client pod). {runs} runs; in each, off and on take turns, " +
        "off first in odd runs and on first in even ones.";

    private static string LatencyMethod(int runs) =>
        "The policy-on cluster of the section above (the other one removed), the measured policy allowing client → server:8080, plus 1,000 " +
        $"policies in {FillerNamespaces} other namespaces ({FillerPoliciesPerNamespace} each, with 10 pods each on nodes that are not " +
        "measured: peers, never endpoints here); each selects pods by label and admits its namespace's pods of another label and every " +
        "pod of the namespaces of one team (namespaceSelector) on one port; the daemons are restarted with all of them present. The change replaces the measured policy's file (written " +
        "beside the directory, then renamed in): the tenth ingress rule admits `role: nobody` instead of `role: client` (allow → deny), " +
        "then the original back (deny → allow). From the moment the rename returns, a new TCP connection attempt from the client to " +
        "server:8080 starts every 5 ms, each from its own source port (no remembered flow can carry it) with 100 ms to connect; the " +
        "change counts as enforced from the connect() call of the first attempt of the final run of at least 5 attempts with the new outcome (resolution " +
        $"5 ms; it includes the daemons' file watch and the `--min-sync-interval` default). {runs} runs, each timing both changes.";
}
