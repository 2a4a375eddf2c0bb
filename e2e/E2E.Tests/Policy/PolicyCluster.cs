using System.Net;
using System.Text;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.E2E.Tests.Policy;

/// <summary>
/// The truth table's world on a <see cref="ProxiedCluster"/> of three nodes with three pods each: the nine pods x/a ... z/c
/// (<see cref="PolicyPod"/>, spread so that each node holds one pod of every namespace), their servers, their Namespaces
/// and Pods in the shared manifest directory, and the steps of a case: <see cref="ApplyAsync"/> (write the policies, wait
/// until every node enforces them) and <see cref="ProbeMatrixAsync"/> (every pod to every pod on 80 and 81, TCP and UDP).
/// </summary>
internal sealed class PolicyCluster : IDisposable
{
    /// <summary>How long a node may take to show a case's isolation in its maps.</summary>
    public static readonly TimeSpan ProgrammingTimeout = TimeSpan.FromSeconds(15);

    /// <summary>The pod ids in table order: x/a, x/b, x/c, y/a, ... z/c.</summary>
    public static readonly IReadOnlyList<string> PodIds =
        [.. PolicyPod.Namespaces.SelectMany(ns => PolicyPod.Names.Select(name => $"{ns}/{name}"))];

    private readonly List<PolicyPodServers> _servers = [];

    private PolicyCluster(ProxiedCluster cluster, IReadOnlyList<PolicyPod> pods)
    {
        Cluster = cluster;
        Pods = pods;
    }

    public ProxiedCluster Cluster { get; }

    /// <summary>The nine pods, in table order.</summary>
    public IReadOnlyList<PolicyPod> Pods { get; }

    public PolicyPod Pod(string id) => Pods.Single(pod => pod.Id == id);

    /// <summary>
    /// Names the cluster's pods (pod n of node k is the pod of namespace n placed on node k by
    /// <see cref="PolicyPod.NodeIndexOf"/>), starts their servers and writes their Namespaces and Pods. The cluster must have
    /// three pods per node; it stays the caller's.
    /// </summary>
    public static PolicyCluster Create(ProxiedCluster cluster)
    {
        var nodes = cluster.Topology.Nodes;
        var pods = new List<PolicyPod>();
        foreach (var ns in PolicyPod.Namespaces)
            foreach (var name in PolicyPod.Names)
            {
                var node = nodes[PolicyPod.NodeIndexOf(ns, name, nodes.Count)];
                var slot = PolicyPod.Namespaces.ToList().IndexOf(ns);
                if (node.Pods.Count <= slot)
                    throw new InvalidOperationException($"{node.Name} has {node.Pods.Count} pods; the truth table needs {PolicyPod.Namespaces.Count} per node");
                pods.Add(new PolicyPod(ns, name, node, node.Pods[slot]));
            }
        var policyCluster = new PolicyCluster(cluster, pods);
        try
        {
            foreach (var pod in pods)
                policyCluster._servers.Add(PolicyPodServers.Start(pod));
            PolicyManifests.WriteNamespacesAndPods(cluster.Manifests, pods);
            return policyCluster;
        }
        catch
        {
            policyCluster.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Makes the case's <paramref name="policies"/> (YAML, empty for none) the cluster's: first removes the previous case's
    /// and waits until no node isolates any pod (so that a stale entry cannot pass for the new case's), then writes the new
    /// ones and waits until every node's maps show <paramref name="isolation"/> (<see cref="PolicyIsolation"/>: the
    /// deterministic signal). Returns how long the second wait took. <paramref name="fromScratch"/> false replaces the
    /// policies in place, with no moment without them; then <paramref name="isolation"/> must differ from the current one
    /// for some pod (the wait cannot tell otherwise): every endpoint's entry is one value, both directions written at once.
    /// </summary>
    // TODO(#17, COMPILER): once `dump` has its POLICY section, also wait for it to list the case's policies by name, so
    // that a case which changes rules but not isolation (none here: each case starts from no policy) is covered as well.
    public async Task<TimeSpan> ApplyAsync(string policies, PolicyIsolation isolation, bool fromScratch = true)
    {
        if (fromScratch)
        {
            PolicyManifests.WritePolicies(Cluster.Manifests, "");
            await WaitForIsolationAsync(PolicyIsolation.None, "the previous case's policies removed");
        }
        else if (ProgrammingGap(isolation) is null)
            throw new ArgumentException($"the maps show {isolation} already: a change in place to it could not be seen", nameof(isolation));
        PolicyManifests.WritePolicies(Cluster.Manifests, policies);
        return await WaitForIsolationAsync(isolation, "the case's policies");
    }

    private async Task<TimeSpan> WaitForIsolationAsync(PolicyIsolation isolation, string what)
    {
        var (done, elapsed) = await Poll.UntilAsync(() => Task.FromResult(ProgrammingGap(isolation) is null ? "" : null), ProgrammingTimeout);
        if (done is null)
            Assert.Fail($"not programmed within {ProgrammingTimeout.TotalSeconds:0} s: {what} ({isolation}); {ProgrammingGap(isolation)}\n" +
                        $"policies written:\n{ReadPolicies()}\n{DescribePolicyMaps()}");
        return elapsed;
    }

    /// <summary>Null when every node's <c>pr_pol_ep4</c> shows <paramref name="isolation"/>; else what differs, node by node.</summary>
    public string? ProgrammingGap(PolicyIsolation isolation)
    {
        var gaps = new List<string>();
        foreach (var node in Cluster.Nodes)
        {
            var expected = isolation.ExpectedEntries(Pods.Where(pod => pod.Node.Name == node.Name));
            var actual = PinnedPolicyMaps.Isolation(node.PinRoot);
            if (actual is null)
            {
                gaps.Add($"{node.Name}: pr_pol_ep4 is not pinned");
                continue;
            }
            if (actual.Count != expected.Count || expected.Any(e => !actual.TryGetValue(e.Key, out var a) || a != e.Value))
                gaps.Add($"{node.Name}: pr_pol_ep4 isolates {Describe(actual)}, the case {Describe(expected)}");
        }
        return gaps.Count == 0 ? null : string.Join("; ", gaps);
    }

    /// <summary>Every pod to every pod, each port and protocol, all at once; a cell that differs from <paramref name="expected"/> is probed again (twice at most, longer timeouts) before it counts.</summary>
    public async Task<ObservedReachability> ProbeMatrixAsync(ExpectedReachability expected)
    {
        var observed = new ObservedReachability(PodIds);
        var cells = (from column in PortProtocol.All
                     from f in Enumerable.Range(0, Pods.Count)
                     from t in Enumerable.Range(0, Pods.Count)
                     select (column, f, t)).ToList();
        var retries = new List<string>();
        for (var attempt = 0; attempt < 3 && cells.Count > 0; attempt++)
        {
            var timeout = ReachabilityProbe.DefaultTimeout * (attempt + 1);
            var results = await ReachabilityProbe.RunAsync(cells.Select(cell => ProbeOf(Pods[cell.f], Pods[cell.t], cell.column)).ToList(), timeout);
            for (var i = 0; i < cells.Count; i++)
                observed[cells[i].column, cells[i].f, cells[i].t] = results[i];
            cells = [.. observed.Mismatches(expected)];
            if (cells.Count > 0 && attempt < 2)
                retries.Add($"attempt {attempt + 1}: {cells.Count} cell(s) unexpected, probing them again: " +
                            string.Join(", ", cells.Take(8).Select(c => $"{PodIds[c.f]}->{PodIds[c.t]} {c.column}")));
        }
        foreach (var retry in retries)
            await TestContext.Out.WriteLineAsync(retry);
        return observed;
    }

    /// <summary>
    /// The policy drop counters summed over every node, ingress and egress checks apart: the counter reasons named
    /// <c>DropPolicyIngress*</c> and <c>DropPolicyEgress*</c> (looked up by name, so this compiles before the dataplane's
    /// policy counters exist; <see cref="PolicyDropReasons"/> says whether they do).
    /// </summary>
    public (ulong Ingress, ulong Egress) PolicyDrops()
    {
        ulong ingress = 0, egress = 0;
        foreach (var node in Cluster.Nodes)
            foreach (var (reason, value) in node.Counters())
            {
                var name = reason.ToString();
                if (name.StartsWith("DropPolicyIngress", StringComparison.Ordinal))
                    ingress += value;
                else if (name.StartsWith("DropPolicyEgress", StringComparison.Ordinal))
                    egress += value;
            }
        return (ingress, egress);
    }

    /// <summary>The counter reasons <see cref="PolicyDrops"/> adds up.</summary>
    public static IReadOnlyList<string> PolicyDropReasons =>
        [.. Enum.GetNames<ProxyReplacement.Dataplane.Abi.CounterReason>().Where(name => name.StartsWith("DropPolicy", StringComparison.Ordinal))];

    /// <summary>The probe from <paramref name="from"/> to <paramref name="to"/>'s address on <paramref name="column"/>.</summary>
    public static Probe ProbeOf(PolicyPod from, PolicyPod to, PortProtocol column) =>
        new(from.Interface.Namespace, from.Id, new IPEndPoint(to.Address, column.Port), to.Id, column.Protocol);

    /// <summary>The pod holding <paramref name="address"/>, or the address itself.</summary>
    public string NameOf(IPAddress address) => Pods.FirstOrDefault(pod => pod.Address.Equals(address))?.Id ?? address.ToString();

    /// <summary>Each node's policy maps (pods named): printed with every failure of a case.</summary>
    public string DescribePolicyMaps()
    {
        var text = new StringBuilder();
        foreach (var node in Cluster.Nodes)
        {
            text.AppendLine($"===== {node.Name} policy maps ({string.Join(", ", Pods.Where(p => p.Node.Name == node.Name).Select(p => $"{p.Id} {p.Address}"))})");
            text.Append(PinnedPolicyMaps.Describe(node.PinRoot, NameOf));
        }
        return text.ToString();
    }

    public void Dispose()
    {
        var cleanup = new CleanupSteps();
        foreach (var servers in _servers)
            cleanup.Attempt(servers);
        _servers.Clear();
        cleanup.ThrowIfAnyFailed("truth-table pods");
    }

    private string ReadPolicies()
    {
        var path = Path.Combine(Cluster.Manifests.Path, PolicyManifests.PoliciesFile);
        return File.Exists(path) ? File.ReadAllText(path) : "(none)";
    }

    private string Describe(IReadOnlyDictionary<IPAddress, (bool Ingress, bool Egress)> entries) =>
        entries.Count == 0
            ? "no pod"
            : string.Join(", ", entries.OrderBy(e => NameOf(e.Key), StringComparer.Ordinal).Select(e =>
                $"{NameOf(e.Key)} ({(e.Value.Ingress && e.Value.Egress ? "ingress+egress" : e.Value.Ingress ? "ingress" : "egress")})"));
}
