using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Policy;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Tests.Policy;

/// <summary>The policy writer on observed in-memory maps: minimal writes, make before break, failures and full maps.</summary>
public sealed class PolicyWriterTests
{
    private static CompiledPolicy Compile(CompiledPolicy? previous, params (string Name, string Spec)[] policies) =>
        PolicyCompiler.Compile(PolicyWorld.Inputs(PolicyWorld.Cluster + PolicyWorld.Policies(policies)), PolicyWorld.Node, previous?.Ids);

    private static readonly (string, string) Web80 = ("web", "podSelector: {}\ningress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}], ports: [{port: 80}]}]");
    private static readonly (string, string) Web81 = ("web", "podSelector: {}\ningress: [{from: [{namespaceSelector: {}}], ports: [{port: 81, endPort: 90}, {port: http}]}]");

    [Test]
    public void The_first_apply_writes_every_entry_and_an_unchanged_one_writes_nothing()
    {
        var maps = new PolicyMapsUnderTest();
        var writer = maps.Writer();
        var compiled = Compile(null, Web80);
        maps.Expect(compiled);

        var first = writer.Apply(compiled, reread: false);
        var again = writer.Apply(Compile(compiled, Web80), reread: true);

        Assert.Multiple(() =>
        {
            Assert.That(first.Problems, Is.Empty);
            Assert.That(first.Writes, Is.EqualTo(compiled.Endpoints.Count + compiled.Ports.Count + compiled.Peers.Count));
            Assert.That(maps.Endpoints.ReadAll(), Is.EquivalentTo(compiled.Endpoints));
            Assert.That(maps.Ports.ReadAll(), Is.EquivalentTo(compiled.Ports));
            Assert.That(maps.Peers.ReadAll(), Is.EquivalentTo(compiled.Peers));
            Assert.That(again.Writes, Is.Zero);
            Assert.That(maps.Violations, Is.Empty);
        });
    }

    [Test]
    public void A_policy_change_writes_the_new_sets_before_switching_endpoints_and_deletes_the_old_after()
    {
        var maps = new PolicyMapsUnderTest();
        var writer = maps.Writer();
        var before = Compile(null, Web80);
        maps.Expect(before);
        writer.Apply(before, reread: false);
        var after = Compile(before, Web81);
        maps.Expect(after);

        var result = writer.Apply(after, reread: false);

        Assert.Multiple(() =>
        {
            Assert.That(result.Problems, Is.Empty);
            Assert.That(maps.Violations, Is.Empty, "no endpoint ever saw a half-written set");
            Assert.That(maps.Ports.ReadAll(), Is.EquivalentTo(after.Ports), "the old sets' entries are gone");
            Assert.That(maps.Peers.ReadAll(), Is.EquivalentTo(after.Peers));
            Assert.That(maps.Endpoints.ReadAll(), Is.EquivalentTo(after.Endpoints));
        });
    }

    [Test]
    public void An_endpoint_whose_new_set_failed_to_write_stays_on_its_old_set_until_a_later_pass_completes_it()
    {
        var maps = new PolicyMapsUnderTest();
        var writer = maps.Writer();
        var before = Compile(null, Web80);
        maps.Expect(before);
        writer.Apply(before, reread: false);
        var after = Compile(before, Web81);
        maps.Expect(after);
        var newSets = after.Sets.Keys.ToHashSet();
        maps.Peers.FailWrite = key => newSets.Contains(key.Set) && key.Peer.PrefixLength == 32;

        var failed = writer.Apply(after, reread: false);

        Assert.Multiple(() =>
        {
            Assert.That(failed.Problems, Is.Not.Empty);
            Assert.That(failed.Problems, Has.All.Matches<SyncProblem>(p => p.Kind == SyncProblemKind.WriteFailed));
            Assert.That(failed.HeldBack, Is.EqualTo(after.Endpoints.Count));
            Assert.That(failed.MapFull, Is.EqualTo(failed.Problems.Count), "the injected failure is a full map");
            Assert.That(maps.Endpoints.ReadAll(), Is.EquivalentTo(before.Endpoints), "every endpoint kept its old, complete set");
            Assert.That(maps.Violations, Is.Empty);
        });

        maps.Peers.FailWrite = null;
        var retried = writer.Apply(after, reread: false);

        Assert.Multiple(() =>
        {
            Assert.That(retried.Problems, Is.Empty);
            Assert.That(maps.Endpoints.ReadAll(), Is.EquivalentTo(after.Endpoints));
            Assert.That(maps.Peers.ReadAll(), Is.EquivalentTo(after.Peers));
            Assert.That(maps.Violations, Is.Empty);
        });
    }

    [Test]
    public void A_full_map_is_reported_and_the_endpoints_whose_sets_fit_are_enforced()
    {
        // x/a and x/b resolve the named port differently: two sets of 1 port + 1 peer entry each; room for only one set's ports.
        var compiled = Compile(null, ("http", "podSelector: {}\ningress: [{ports: [{port: http}]}]"));
        Assert.That(compiled.Sets, Has.Count.EqualTo(2));
        var maps = new PolicyMapsUnderTest(ports: 1);
        maps.Expect(compiled);

        var result = maps.Writer().Apply(compiled, reread: false);

        Assert.Multiple(() =>
        {
            Assert.That(result.MapFull, Is.EqualTo(1));
            Assert.That(result.HeldBack, Is.EqualTo(1));
            Assert.That(maps.Endpoints.ReadAll(), Has.Count.EqualTo(1), "the endpoint whose set fits is isolated; the other stays open, not half-enforced");
            Assert.That(maps.Violations, Is.Empty);
        });
    }

    [Test]
    public void A_new_writer_adopts_what_is_in_the_maps_and_repairs_drift_on_a_full_pass()
    {
        var maps = new PolicyMapsUnderTest();
        var compiled = Compile(null, Web80);
        maps.Expect(compiled);
        maps.Writer().Apply(compiled, reread: false);
        maps.Peers.Inner.Delete(compiled.Peers.Keys.First()); // drift: an entry lost behind our back
        var stray = new PolicyPortKey(999, 6, 22, 16);
        maps.Ports.Inner.Update(stray, new PolicyPortValue(1)); // and one nobody wrote

        var restarted = maps.Writer();
        var result = restarted.Apply(compiled, reread: false);

        Assert.Multiple(() =>
        {
            Assert.That(result.Writes, Is.EqualTo(2), "the missing peer entry written, the stray port entry deleted; nothing else");
            Assert.That(maps.Peers.ReadAll(), Is.EquivalentTo(compiled.Peers));
            Assert.That(maps.Ports.ReadAll(), Is.EquivalentTo(compiled.Ports));
            Assert.That(restarted.MaxSetInMaps(), Is.EqualTo(compiled.Sets.Keys.Max()));
        });
    }
}
