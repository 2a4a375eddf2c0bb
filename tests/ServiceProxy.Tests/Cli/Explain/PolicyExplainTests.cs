using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Cli.Explain;
using ProxyReplacement.ServiceProxy.Policy;
using ProxyReplacement.ServiceProxy.Tests.Policy;

namespace ProxyReplacement.ServiceProxy.Tests.Cli.Explain;

/// <summary>explain's policy checks: after the Service translation, the source pod's egress towards each backend and each backend's ingress.</summary>
public sealed class PolicyExplainTests
{
    private static readonly NatFrontendKey4 Web = FakeDataplane.Key("10.96.0.10", 80);

    // x/a (10.0.1.1) takes port 8080 from app=b pods only; x/b (10.0.1.2) may send to port 8080 only.
    private static readonly CompiledPolicy Compiled = PolicyCompiler.Compile(PolicyWorld.Inputs(PolicyWorld.Cluster + PolicyWorld.Policies(
        ("web", "podSelector: {matchLabels: {app: a}}\ningress: [{from: [{podSelector: {matchLabels: {app: b}}}], ports: [{port: 8080}]}]"),
        ("out", "podSelector: {matchLabels: {app: b}}\npolicyTypes: [Egress]\negress: [{ports: [{port: 8080}]}]"))), PolicyWorld.Node);

    private static IReadOnlyList<PolicyCheck> Explain(string source, string destination)
    {
        var dataplane = new FakeDataplane();
        dataplane.Service(Web, 1, ["10.0.1.1:8080"]);
        var explanation = PacketExplainer.Explain(dataplane.Maps, ExplainRequest.Parse("pod", source, destination), FakeDataplane.Now);
        var lookup = new PolicyMapLookup(Compiled.Endpoints, Compiled.Ports.ToList(), Compiled.Peers.ToList());
        return PolicyExplainer.Explain(lookup, PolicyNames.Of(Compiled), explanation, Compiled.Endpoints);
    }

    [Test]
    public void A_pod_to_a_service_is_checked_against_the_chosen_backend_both_ways_with_the_rules_named()
    {
        var checks = Explain("10.0.1.2", "10.96.0.10:80/tcp");

        Assert.Multiple(() =>
        {
            Assert.That(checks.Select(c => (c.Direction, c.Pod.ToString(), c.Peer.ToString(), c.Port, c.Decision.Allowed)), Is.EqualTo(new[]
            {
                ("egress", "10.0.1.2", "10.0.1.1", (ushort)8080, true),
                ("ingress", "10.0.1.1", "10.0.1.2", (ushort)8080, true),
            }), "the backend's port 8080, not the Service's 80");
            Assert.That(checks[0].Rule, Is.EqualTo("x/out egress[0] (rule 1)"), "rule ids count in policy order: x/out before x/web");
            Assert.That(checks[1].Rule, Is.EqualTo("x/web ingress[0] (rule 2)"));
            Assert.That(PolicyExplainer.Text(checks), Does.StartWith("policy egress of x/b (10.0.1.2), peer 10.0.1.1 port 8080: allowed by x/out egress[0] (rule 1)"));
        });
    }

    [Test]
    public void A_denied_packet_says_which_lookup_missed()
    {
        var checks = Explain("10.0.2.1", "10.0.1.1:8080/tcp");

        var check = checks.Single();
        Assert.Multiple(() =>
        {
            Assert.That((check.Direction, check.Decision.Allowed, check.Rule), Is.EqualTo(("ingress", false, (string?)null)));
            Assert.That(check.Decision.Why, Does.Contain("no pr_pol_peers4 match"), "x/c (10.0.2.1) is not app=b: the port matched, no peer did");
        });
    }
}
