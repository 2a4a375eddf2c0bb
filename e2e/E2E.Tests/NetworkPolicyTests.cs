using System.Net;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.E2E.Tests.Policy;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.E2E.Tests;

/// <summary>
/// NetworkPolicy end to end, as a truth table (the reachability matrix of Kubernetes' own network policy e2e suite):
/// three namespaces x, y, z (labels <c>ns: x</c> ...) with three pods a, b, c each (labels <c>pod: a</c> ...), spread over
/// three nodes, each node running the real daemon with the shared manifest directory (Nodes, Namespaces, Pods, the case's
/// NetworkPolicies). Every case writes its policies, waits until every node's maps show the isolation the case implies
/// (<see cref="PolicyIsolation"/>), probes every pod from every pod on 80 and 81, TCP and UDP, and compares with the
/// tables written by hand below from the Kubernetes semantics. Self-traffic (the diagonal) never leaves the pod and is
/// always reachable. The cluster is made once for the class; <see cref="NetworkPolicyCases"/> holds the cases.
/// </summary>
/// <remarks>
/// Pods and addresses (the ipBlock case depends on them; checked when the cluster starts):
/// node a (10.244.1.0/24): x/a .2, y/c .3, z/b .4; node b (10.244.2.0/24): x/b .2, y/a .3, z/c .4;
/// node c (10.244.3.0/24): x/c .2, y/b .3, z/a .4.
/// </remarks>
[TestFixture]
public sealed class NetworkPolicyTests : ProxiedClusterFixture
{
    private static readonly (string Pod, string Address, string Node)[] Layout =
    [
        ("x/a", "10.244.1.2", "node-a"), ("y/c", "10.244.1.3", "node-a"), ("z/b", "10.244.1.4", "node-a"),
        ("x/b", "10.244.2.2", "node-b"), ("y/a", "10.244.2.3", "node-b"), ("z/c", "10.244.2.4", "node-b"),
        ("x/c", "10.244.3.2", "node-c"), ("y/b", "10.244.3.3", "node-c"), ("z/a", "10.244.3.4", "node-c"),
    ];

    private PolicyCluster? _policy;

    private PolicyCluster Policies => _policy ?? throw new InvalidOperationException("OneTimeSetUp did not complete");

    private protected override int PodsPerNode => 3;

    private protected override IEnumerable<(ClusterService Service, string[] Backends)> Services => [];

    /// <summary>After the base class's setup: the daemons run already and pick the Namespaces and Pods up as they come.</summary>
    [OneTimeSetUp]
    public void StartPodServers()
    {
        _policy = PolicyCluster.Create(Cluster);
        var actual = _policy.Pods.Select(pod => (pod.Id, pod.Address.ToString(), pod.Node.Name)).OrderBy(p => p.Id, StringComparer.Ordinal);
        Assert.That(actual, Is.EqualTo(Layout.OrderBy(p => p.Pod, StringComparer.Ordinal)), "the pod layout the ipBlock case is written for");
    }

    [OneTimeTearDown]
    public void StopPodServers()
    {
        _policy?.Dispose();
        _policy = null;
    }

    [TestCaseSource(typeof(NetworkPolicyCases), nameof(NetworkPolicyCases.All))]
    public async Task Truth_table(NetworkPolicyCase policyCase)
    {
        var programmed = await Policies.ApplyAsync(policyCase.Policies, policyCase.Isolation);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var dropsBefore = Policies.PolicyDrops();
        var observed = await Policies.ProbeMatrixAsync(policyCase.Expected);
        var dropsAfter = Policies.PolicyDrops();
        var (ingressDrops, egressDrops) = (dropsAfter.Ingress - dropsBefore.Ingress, dropsAfter.Egress - dropsBefore.Egress);
        await TestContext.Out.WriteLineAsync(
            $"{policyCase.Id} ({policyCase.Name}): programmed on every node {programmed.TotalMilliseconds:0} ms after the write; " +
            $"matrix probed in {clock.ElapsedMilliseconds} ms; policy drops counted: {ingressDrops} at ingress checks, {egressDrops} at egress checks");

        if (observed.Diff(policyCase.Expected) is { } diff)
            Assert.Fail($"{policyCase.Name}\npolicies:\n{policyCase.Policies}\n{diff}\n{Policies.DescribePolicyMaps()}");
        // Denied packets are dropped and counted, by the check of the isolated direction only.
        Assert.Multiple(() =>
        {
            if (policyCase.Expected.DeniesAnything)
                Assert.That(ingressDrops + egressDrops, Is.GreaterThan(0UL),
                    $"the denied cells were counted as policy drops (counter reasons: {string.Join(", ", PolicyCluster.PolicyDropReasons)})");
            else
                Assert.That(ingressDrops + egressDrops, Is.Zero, "nothing denied, no policy drop");
            if (policyCase.Isolation.Ingress.Count == 0)
                Assert.That(ingressDrops, Is.Zero, "no pod is ingress-isolated: no ingress check drops");
            if (policyCase.Isolation.Egress.Count == 0)
                Assert.That(egressDrops, Is.Zero, "no pod is egress-isolated: no egress check drops");
        });
    }

    [Test]
    public async Task Traffic_from_a_node_to_its_own_pods_passes_a_deny_all_ingress_policy()
    {
        await Policies.ApplyAsync(NetworkPolicyCases.DenyAllIngressEverywhere,
            PolicyIsolation.Of(ingress: [.. PolicyIsolation.All("x"), .. PolicyIsolation.All("y"), .. PolicyIsolation.All("z")]));

        var fromNodes = Policies.Pods.SelectMany(pod => PortProtocol.All.Select(column =>
            new Probe(pod.Node.Namespace, $"{pod.Node.Name} (host)", new IPEndPoint(pod.Address, column.Port), pod.Id, column.Protocol))).ToList();
        var results = await ReachabilityProbe.RunAsync(fromNodes, ReachabilityProbe.DefaultTimeout * 2);
        var betweenPods = await Policies.ProbeMatrixAsync(NetworkPolicyCases.NothingButSelf);

        Assert.Multiple(() =>
        {
            for (var i = 0; i < fromNodes.Count; i++)
                Assert.That(results[i].Outcome, Is.EqualTo(ProbeOutcome.Answered), $"{fromNodes[i]}: {results[i]}");
            Assert.That(betweenPods.Diff(NetworkPolicyCases.NothingButSelf), Is.Null, "pods do not reach each other: the policy is enforced");
        });
    }

    /// <param name="underAnAllowPolicy">
    /// false: no policy at all while the connections open (x/a not isolated, nothing tracked for it); true: x's ingress is
    /// isolated by an allow-all policy (the connections approved by x/a's ingress check), replaced in place by the deny-all.
    /// </param>
    [TestCase(false, TestName = "{m}(no policy before)")]
    [TestCase(true, TestName = "{m}(an allow-all ingress policy before, replaced in place)")]
    public async Task An_established_tcp_connection_opened_before_a_deny_all_policy_keeps_working_after_it(bool underAnAllowPolicy)
    {
        if (underAnAllowPolicy)
            await Policies.ApplyAsync(NetworkPolicyCases.AllowAllIngressInX, PolicyIsolation.Of(ingress: PolicyIsolation.All("x")));
        else
            await Policies.ApplyAsync("", PolicyIsolation.None);
        var xa = Policies.Pod("x/a");
        var (zb, yb) = (Policies.Pod("z/b"), Policies.Pod("y/b")); // z/b on x/a's node, y/b on another
        using var sameNode = await OpenAsync(zb, new IPEndPoint(xa.Address, 80));
        using var crossNode = await OpenAsync(yb, new IPEndPoint(xa.Address, 81));
        var before = await Task.WhenAll(Ask(sameNode, "before"), Ask(crossNode, "before"));

        await Policies.ApplyAsync(NetworkPolicyCases.DenyAllInX, PolicyIsolation.Of(ingress: PolicyIsolation.All("x"), egress: PolicyIsolation.All("x")),
            fromScratch: !underAnAllowPolicy);
        var newConnections = await ReachabilityProbe.RunAsync(
        [
            PolicyCluster.ProbeOf(zb, xa, new PortProtocol(80, L4.Tcp)),
            PolicyCluster.ProbeOf(yb, xa, new PortProtocol(81, L4.Tcp)),
        ], ReachabilityProbe.DefaultTimeout);
        var after = await Task.WhenAll(Ask(sameNode, "after"), Ask(crossNode, "after"));

        Assert.Multiple(() =>
        {
            Assert.That(before, Is.EqualTo(new[] { "x/a: before", "x/a: before" }));
            Assert.That(newConnections.Select(r => r.Outcome), Is.EqualTo(new[] { ProbeOutcome.TimedOut, ProbeOutcome.TimedOut }),
                $"new connections to x/a are dropped under the deny-all policy: {string.Join("; ", newConnections)}");
            Assert.That(after, Is.EqualTo(new[] { "x/a: after", "x/a: after" }),
                "both established connections (z/b -> x/a:80 on one node, y/b -> x/a:81 across nodes) still carry data both ways");
        });

        // A dropped connection shows as its own answer, so that the assertion names which one broke.
        static async Task<string> Ask(System.Net.Sockets.Socket socket, string line)
        {
            try
            {
                return await NetnsSockets.SendLineAndReadEchoAsync(socket, line, TimeSpan.FromSeconds(3));
            }
            catch (Exception e) when (e is OperationCanceledException or System.Net.Sockets.SocketException)
            {
                return $"no answer to '{line}' within 3 s ({e.GetType().Name})";
            }
        }
    }

    [Test]
    public async Task Egress_to_dns_only_lets_x_reach_port_53_of_any_pod_and_nothing_else()
    {
        await Policies.ApplyAsync(NetworkPolicyCases.EgressFromXToDnsOnly, PolicyIsolation.Of(egress: PolicyIsolation.All("x")));
        var (xa, yb, xc) = (Policies.Pod("x/a"), Policies.Pod("y/b"), Policies.Pod("x/c"));

        // Nothing listens on 53: a reset or an ICMP port unreachable coming back shows the packet was let out and in.
        var probes = new List<Probe>
        {
            new(xa.Interface.Namespace, xa.Id, new IPEndPoint(yb.Address, 53), yb.Id, L4.Tcp),
            new(xa.Interface.Namespace, xa.Id, new IPEndPoint(yb.Address, 53), yb.Id, L4.Udp),
            new(xa.Interface.Namespace, xa.Id, new IPEndPoint(xc.Address, 53), xc.Id, L4.Tcp),
            new(xa.Interface.Namespace, xa.Id, new IPEndPoint(yb.Address, 80), yb.Id, L4.Tcp),
        };
        var results = await ReachabilityProbe.RunAsync(probes, ReachabilityProbe.DefaultTimeout * 2);

        Assert.Multiple(() =>
        {
            Assert.That(results[0].Outcome, Is.EqualTo(ProbeOutcome.Refused), $"{probes[0]}: {results[0]}");
            Assert.That(results[1].Outcome, Is.EqualTo(ProbeOutcome.Refused), $"{probes[1]}: {results[1]}");
            Assert.That(results[2].Outcome, Is.EqualTo(ProbeOutcome.Refused), $"{probes[2]}: {results[2]}");
            Assert.That(results[3].Outcome, Is.EqualTo(ProbeOutcome.TimedOut), $"{probes[3]}: {results[3]}");
        });
    }

    /// <summary>
    /// The harness itself, no policy involved: a path the test cuts (a blackhole route to y/b in x/a's namespace: x/a can
    /// neither reach y/b nor answer it) shows in the observed matrix exactly where written, and a wrong expectation makes
    /// a diff naming the cells. Guards against probes that pass whatever happens.
    /// </summary>
    [Test]
    public async Task The_probes_see_a_path_the_test_cuts_itself_and_the_diff_names_its_cells()
    {
        await Policies.ApplyAsync("", PolicyIsolation.None);
        var (xa, yb) = (Policies.Pod("x/a"), Policies.Pod("y/b"));
        var cut = ExpectedReachability.Everywhere("""
                 x/a x/b x/c y/a y/b y/c z/a z/b z/c
            x/a   .   .   .   .   X   .   .   .   .
            x/b   .   .   .   .   .   .   .   .   .
            x/c   .   .   .   .   .   .   .   .   .
            y/a   .   .   .   .   .   .   .   .   .
            y/b   X   .   .   .   .   .   .   .   .
            y/c   .   .   .   .   .   .   .   .   .
            z/a   .   .   .   .   .   .   .   .   .
            z/b   .   .   .   .   .   .   .   .   .
            z/c   .   .   .   .   .   .   .   .   .
            """);
        IpCommand.Ip("-n", xa.Interface.Namespace, "route", "add", "blackhole", $"{yb.Address}/32");
        ObservedReachability observed;
        try
        {
            observed = await Policies.ProbeMatrixAsync(cut);
        }
        finally
        {
            IpCommand.Ip("-n", xa.Interface.Namespace, "route", "del", "blackhole", $"{yb.Address}/32");
        }
        var againstAllReachable = observed.Diff(NetworkPolicyCases.EveryPodReachesEveryPod);

        Assert.Multiple(() =>
        {
            Assert.That(observed.Diff(cut), Is.Null, "the observed matrix is the cut one");
            Assert.That(againstAllReachable, Does.StartWith("8 of 324 cells differ"), "2 cells on each of the 4 ports and protocols");
            Assert.That(againstAllReachable, Does.Contain("  y/b -> x/a 80/TCP: expected reachable, probe timedout"));
            Assert.That(againstAllReachable, Does.Contain("  x/a -> y/b 81/UDP: expected reachable, probe "));
        });
        await TestContext.Out.WriteLineAsync(againstAllReachable);
    }

    private static async Task<System.Net.Sockets.Socket> OpenAsync(PolicyPod client, IPEndPoint server) =>
        await NetnsSockets.ConnectTcpAsync(client.Interface.Namespace, server, TimeSpan.FromSeconds(5), new IPEndPoint(IPAddress.Any, SourcePorts.Next()));
}
