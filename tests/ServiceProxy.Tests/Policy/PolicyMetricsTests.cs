using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Tests.Daemon;

namespace ProxyReplacement.ServiceProxy.Tests.Policy;

/// <summary>The policy module's metrics as /metrics shows them.</summary>
public sealed class PolicyMetricsTests
{
    [Test]
    public void Endpoints_sets_entries_writes_errors_compile_time_and_problems_are_exposed()
    {
        using var metrics = new ProxyMetrics();
        metrics.Policy.Endpoints.Set(3);
        metrics.Policy.RuleSets.Set(2);
        metrics.Policy.RecordEntries(3, 10, 40);
        metrics.Policy.Writes.Increment(53);
        metrics.Policy.WriteErrors.Increment(2);
        metrics.Policy.MapFull.Increment();
        metrics.Policy.CompileDuration!.Record(0.004);
        metrics.Policy.RecordProblems(
        [
            new PolicyProblem(new ObjectKey("x", "a"), PolicyProblemReason.InvalidCidr, "", Skipped: true),
            new PolicyProblem(new ObjectKey("x", "b"), PolicyProblemReason.InvalidCidr, "", Skipped: true),
            new PolicyProblem(new ObjectKey("x", "c"), PolicyProblemReason.NamedPortIpBlock, "", Skipped: false),
        ]);

        var exposition = new Exposition(metrics.ScrapeAsync().GetAwaiter().GetResult());

        Assert.Multiple(() =>
        {
            Assert.That(exposition.Types["proxyreplacement_policy_endpoints"], Is.EqualTo("gauge"));
            Assert.That(exposition.Value("proxyreplacement_policy_endpoints"), Is.EqualTo(3));
            Assert.That(exposition.Value("proxyreplacement_policy_rule_sets"), Is.EqualTo(2));
            Assert.That(exposition.Value("proxyreplacement_policy_map_entries{map=\"pr_pol_ep4\"}"), Is.EqualTo(3));
            Assert.That(exposition.Value("proxyreplacement_policy_map_entries{map=\"pr_pol_ports4\"}"), Is.EqualTo(10));
            Assert.That(exposition.Value("proxyreplacement_policy_map_entries{map=\"pr_pol_peers4\"}"), Is.EqualTo(40));
            Assert.That(exposition.Types["proxyreplacement_policy_writes_total"], Is.EqualTo("counter"));
            Assert.That(exposition.Value("proxyreplacement_policy_writes_total"), Is.EqualTo(53));
            Assert.That(exposition.Value("proxyreplacement_policy_write_errors_total"), Is.EqualTo(2));
            Assert.That(exposition.Value("proxyreplacement_policy_map_full_total"), Is.EqualTo(1));
            Assert.That(exposition.Types["proxyreplacement_policy_compile_duration_seconds"], Is.EqualTo("histogram"));
            Assert.That(exposition.Value("proxyreplacement_policy_compile_duration_seconds_count"), Is.EqualTo(1));
            Assert.That(exposition.Value("proxyreplacement_policy_problems{reason=\"invalid_cidr\"}"), Is.EqualTo(2));
            Assert.That(exposition.Value("proxyreplacement_policy_problems{reason=\"named_port_ip_block\"}"), Is.EqualTo(1));
            Assert.That(exposition.Value("proxyreplacement_policy_problems{reason=\"selector\"}"), Is.Zero, "every reason is a series, zero when none");
        });
    }
}
