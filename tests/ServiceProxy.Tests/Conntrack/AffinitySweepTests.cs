using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Conntrack;

namespace ProxyReplacement.ServiceProxy.Tests.Conntrack;

public sealed class AffinitySweepTests
{
    private const ulong S = ConntrackTimeouts.NsPerSecond;
    private static readonly NatFrontendKey4 Fe = new(IPAddress.Parse("10.96.0.10"), 80, L4Protocol.Tcp);

    private static KeyValuePair<AffinityKey4, AffinityValue4> Entry(string client, ulong lastUsed, NatFrontendKey4? fe = null) =>
        new(new AffinityKey4(fe ?? Fe, IPAddress.Parse(client)), new AffinityValue4(lastUsed, 0, IPAddress.Parse("10.244.2.7"), 8080));

    [TestCase(100u, 100ul, false, Description = "exactly the timeout: usable")]
    [TestCase(100u, 101ul, true)]
    [TestCase(0u, 10800ul, false, Description = "0 means Kubernetes' default, 10800 s")]
    [TestCase(0u, 10801ul, true)]
    public void Expiry_follows_the_frontends_timeout(uint timeoutSeconds, ulong idleSeconds, bool stale)
    {
        var now = 20_000 * S;
        var frontend = new NatFrontendValue(7, 1, FrontendFlags.Affinity, timeoutSeconds);
        var entries = new[] { Entry("10.244.1.5", now - idleSeconds * S) };
        Assert.That(AffinitySweep.Stale(entries, _ => frontend, now).Count, Is.EqualTo(stale ? 1 : 0));
    }

    [Test]
    public void Entries_of_gone_or_non_affinity_frontends_are_stale()
    {
        var now = 20_000 * S;
        var other = new NatFrontendKey4(IPAddress.Parse("10.96.0.11"), 80, L4Protocol.Tcp);
        var entries = new[] { Entry("10.244.1.5", now, Fe), Entry("10.244.1.6", now, other) };
        Assert.Multiple(() =>
        {
            Assert.That(AffinitySweep.Stale(entries, _ => null, now).Count, Is.EqualTo(2), "no frontend");
            Assert.That(AffinitySweep.Stale(entries, key => key == Fe ? new NatFrontendValue(7, 1) : new NatFrontendValue(8, 1, FrontendFlags.Affinity, 60), now),
                Is.EqualTo(new[] { entries[0].Key }), "a frontend without affinity");
        });
    }
}
