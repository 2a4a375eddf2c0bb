using Microsoft.Extensions.Logging.Abstractions;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Policy;
using ProxyReplacement.ServiceProxy.Sources;

namespace ProxyReplacement.ServiceProxy.Tests.Policy;

/// <summary>The policy module in the sync loop: when it compiles, what it writes and reports, restarts and the switch off.</summary>
public sealed class PolicyModuleTests
{
    private sealed class FakePolicySource : IPolicySource
    {
        public PolicyInputs PolicyInputs { get; private set; } = PolicyInputs.Empty;
        public event Action? PolicyInputsChanged;

        public void Set(PolicyInputs inputs)
        {
            PolicyInputs = inputs;
            PolicyInputsChanged?.Invoke();
        }
    }

    private static PolicyInputs Inputs(params (string, string)[] policies) => PolicyWorld.Inputs(PolicyWorld.Cluster + PolicyWorld.Policies(policies));

    private static PolicyModule Module(PolicyMapsUnderTest maps, IPolicySource source, PolicyMetrics metrics, Action? changed = null) =>
        new(maps.Endpoints, maps.Ports, maps.Peers, source, PolicyWorld.Node, metrics, NullLogger<PolicyModule>.Instance, changed);

    [Test]
    public void A_pass_compiles_only_after_a_change_a_full_resync_or_a_failure()
    {
        var maps = new PolicyMapsUnderTest();
        var source = new FakePolicySource();
        var queued = 0;
        var module = Module(maps, source, new PolicyMetrics(), () => queued++);

        Assert.That(module.Sync(full: false), Is.Not.Null, "the first pass always runs");
        Assert.That(module.Sync(full: false), Is.Null, "nothing changed");
        source.Set(Inputs(("deny", "podSelector: {}")));
        Assert.That(queued, Is.EqualTo(1), "a change queues a sync");
        var changed = module.Sync(full: false);
        Assert.That(changed?.Compiled.Endpoints, Has.Count.EqualTo(2));
        Assert.That(module.Sync(full: true)?.Written.Writes, Is.Zero, "a full resync re-reads and finds nothing to repair");
    }

    [Test]
    public void Metrics_count_endpoints_sets_entries_and_problems_by_reason()
    {
        var maps = new PolicyMapsUnderTest();
        var source = new FakePolicySource();
        var metrics = new PolicyMetrics();
        var module = Module(maps, source, metrics);
        source.Set(Inputs(("deny", "podSelector: {matchLabels: {app: a}}"), ("v6", "podSelector: {}\ningress: [{from: [{ipBlock: {cidr: 'fd00::/8'}}]}]")) with
        {
            Rejected = [new PolicyProblem(new ObjectKey("x", "bad"), PolicyProblemReason.InvalidCidr, "x", Skipped: true)],
        });

        var result = module.Sync(full: false)!;

        Assert.Multiple(() =>
        {
            Assert.That(metrics.Endpoints.Value, Is.EqualTo(2));
            Assert.That(metrics.RuleSets.Value, Is.EqualTo(result.Compiled.Sets.Count));
            Assert.That(metrics.Entries, Is.EqualTo(new long[] { 2, result.Compiled.Ports.Count, result.Compiled.Peers.Count }));
            Assert.That(metrics.Problems, Is.EqualTo(new Dictionary<string, int> { [PolicyProblemReason.InvalidCidr] = 1, [PolicyProblemReason.Ipv6Unsupported] = 1 }));
            Assert.That(metrics.Writes.Value, Is.EqualTo(result.Written.Writes));
            Assert.That(metrics.WriteErrors.Value, Is.Zero);
        });
    }

    [Test]
    public void With_no_inputs_the_module_empties_maps_a_previous_run_left()
    {
        var maps = new PolicyMapsUnderTest();
        var compiled = PolicyCompiler.Compile(Inputs(("deny", "podSelector: {}")), PolicyWorld.Node);
        maps.Expect(compiled);
        maps.Writer().Apply(compiled, reread: false);

        var module = Module(maps, new FakePolicySource(), new PolicyMetrics()); // --network-policy=false: the source gives nothing
        module.Sync(full: false);

        Assert.Multiple(() =>
        {
            Assert.That(maps.Endpoints.ReadAll(), Is.Empty);
            Assert.That(maps.Ports.ReadAll(), Is.Empty);
            Assert.That(maps.Peers.ReadAll(), Is.Empty);
            Assert.That(maps.Violations, Is.Empty);
        });
    }

    [Test]
    public void A_restarted_module_gives_its_sets_ids_above_the_pinned_ones_and_switches_cleanly()
    {
        var maps = new PolicyMapsUnderTest();
        var source = new FakePolicySource();
        source.Set(Inputs(("web", "podSelector: {}\ningress: [{ports: [{port: 80}]}]"), ("db", "podSelector: {matchLabels: {app: b}}\npolicyTypes: [Egress]")));
        maps.Expect(PolicyCompiler.Compile(source.PolicyInputs, PolicyWorld.Node)); // what the first module will make, known before it writes
        var first = Module(maps, source, new PolicyMetrics()).Sync(full: false)!;

        var restarted = Module(maps, source, new PolicyMetrics());
        // The restarted module's compile is only known after it ran: register what it will make by compiling the same way.
        maps.Expect(PolicyCompiler.Compile(source.PolicyInputs, PolicyWorld.Node, PolicyIds.Empty.Seed(first.Compiled.Sets.Keys.Max())));
        var second = restarted.Sync(full: false)!;

        Assert.Multiple(() =>
        {
            Assert.That(second.Compiled.Sets.Keys.Min(), Is.GreaterThan(first.Compiled.Sets.Keys.Max()), "no id shared with pinned entries");
            Assert.That(second.Written.Problems, Is.Empty);
            Assert.That(maps.Violations, Is.Empty, "every endpoint switched from a complete set to a complete set");
            Assert.That(maps.Ports.ReadAll(), Is.EquivalentTo(second.Compiled.Ports));
            Assert.That(maps.Peers.ReadAll(), Is.EquivalentTo(second.Compiled.Peers));
        });
    }
}
