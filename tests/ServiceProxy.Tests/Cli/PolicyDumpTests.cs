using System.Text;
using ProxyReplacement.ServiceProxy.Cli;
using ProxyReplacement.ServiceProxy.Policy;
using ProxyReplacement.ServiceProxy.Tests.Policy;

namespace ProxyReplacement.ServiceProxy.Tests.Cli;

/// <summary>The POLICY section of `dump`, from the maps a compile wrote (in memory) and the daemon's names.</summary>
public sealed class PolicyDumpTests
{
    [Test]
    public void Endpoints_with_their_sets_then_each_sets_ports_and_peers_with_rule_names()
    {
        var compiled = PolicyCompiler.Compile(PolicyWorld.Inputs(PolicyWorld.Cluster + PolicyWorld.Policies(
            ("web", "podSelector: {matchLabels: {app: a}}\ningress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}], ports: [{port: 80}, {port: 1000, endPort: 1010}]}]"))),
            PolicyWorld.Node);
        var maps = new PolicyMapsUnderTest();
        maps.Writer().Apply(compiled, reread: false);
        var namesPath = Path.Combine(Path.GetTempPath(), $"prt-policy-names-{Guid.NewGuid():N}.json");
        PolicyNames.Of(compiled).Write(namesPath);
        try
        {
            var text = new StringBuilder();
            PolicyDump.AppendText(text, PolicyDump.Read(maps.Endpoints, maps.Ports, maps.Peers, PolicyNames.Read(namesPath)));

            Assert.That(text.ToString(), Is.EqualTo("""

                POLICY (2 endpoints tracked, 1 isolated, 1 rule sets; a pod without an entry is neither tracked nor isolated)
                  x/a                            10.0.1.1        ingress set 1    egress open
                  x/b                            10.0.1.2        ingress open     egress open
                  set 1: tcp 80 -> class 1, tcp 1000-1007 -> class 1, tcp 1008-1009 -> class 1, tcp 1010 -> class 1
                      class 1:
                        10.0.0.0/8         allow x/web ingress[0] (rule 1)
                        10.1.0.0/16        deny  x/web ingress[0] (rule 1)

                """.Replace("\r\n", "\n")));
        }
        finally
        {
            File.Delete(namesPath);
        }
    }

    [Test]
    public void Without_the_daemons_names_rules_and_pods_show_as_ids()
    {
        var compiled = PolicyCompiler.Compile(PolicyWorld.Inputs(PolicyWorld.Cluster + PolicyWorld.Policies(("deny", "podSelector: {matchLabels: {app: b}}"))), PolicyWorld.Node);
        var maps = new PolicyMapsUnderTest();
        maps.Writer().Apply(compiled, reread: false);

        var contents = PolicyDump.Read(maps.Endpoints, maps.Ports, maps.Peers, PolicyNames.Read("/nonexistent/names.json"));

        Assert.Multiple(() =>
        {
            Assert.That(contents.Endpoints, Is.EquivalentTo(new[]
            {
                new PolicyDump.EndpointRow("10.0.1.1", null, 0, 0), // x/a: this node's, tracked, not isolated
                new PolicyDump.EndpointRow("10.0.1.2", null, 1, 0),
            }));
            Assert.That(contents.Sets.Single().Ports, Is.Empty, "deny all: no port entry");
        });
    }
}
