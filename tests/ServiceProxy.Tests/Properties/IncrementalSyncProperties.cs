using System.Diagnostics.CodeAnalysis;
using FsCheck;
using FsCheck.Fluent;
using Property = FsCheck.Property;
using PropertyAttribute = FsCheck.NUnit.PropertyAttribute;

namespace ProxyReplacement.ServiceProxy.Tests.Properties;

/// <summary>
/// The incremental path against the rebuild (<see cref="IncrementalOracle"/>): random sequences of Service changes (added,
/// deleted, ports, types, NodePorts, LoadBalancer and external IPs, source ranges, affinity, traffic policies, the
/// external-mode annotation, valid or not) and EndpointSlice changes (ready, terminating, on this node or not, IPv6), with
/// node contexts changing now and then and full resyncs, from the small pools of <see cref="SyncerProperties"/> so that
/// Services collide on frontends (contested keys) and take over each other's. After every step the incremental Syncer's
/// writes, problems, ids and maps equal the rebuild's, and no single write of either breaks make before break.
/// </summary>
[SuppressMessage("Usage", "NUnit1027:The test method has parameters, but no arguments are supplied by attributes",
    Justification = "FsCheck properties: FsCheck supplies the arguments")]
public sealed class IncrementalSyncProperties
{
    [Property(MaxTest = 300, QuietOnSuccess = true)]
    public Property Incremental_syncs_write_what_a_rebuild_writes_and_keep_make_before_break() =>
        Prop.ForAll(Arb.From(SyncerProperties.Scenarios(faultPercent: 0, rich: true)), scenario => { IncrementalOracle.Run(scenario, drift: false); });

    [Property(MaxTest = 200, QuietOnSuccess = true)]
    public Property On_drifted_maps_incremental_syncs_still_do_what_a_rebuild_does() =>
        Prop.ForAll(Arb.From(SyncerProperties.Scenarios(faultPercent: 0, rich: true)), scenario => { IncrementalOracle.Run(scenario, drift: true); });

    /// <summary>
    /// The properties prove little unless Service changes really take the incremental path: on a fixed sample of the same
    /// scenarios, every step that changes a Service object (outside full resyncs and context changes) must, unless it touches
    /// a contested frontend (the pools are small, so that happens often: those rebuild), and drift must happen.
    /// </summary>
    [Test]
    public void The_oracle_exercises_the_incremental_Service_path_and_its_fallbacks()
    {
        var tally = OracleTally.Zero;
        foreach (var scenario in SyncerProperties.Scenarios(faultPercent: 0, rich: true).Sample(200))
            tally = tally.Plus(IncrementalOracle.Run(scenario, drift: true));
        TestContext.Out.WriteLine(tally);
        Assert.Multiple(() =>
        {
            Assert.That(tally.ServiceChangesOtherwise, Is.Zero, "a Service change rebuilds only for a contested frontend");
            Assert.That(tally.ServiceChangesIncremental, Is.GreaterThan(tally.ServiceChanges / 3), "many Service changes take the incremental path");
            Assert.That(tally.ServiceChangesContested, Is.GreaterThan(0), "some touch a contested frontend and rebuild");
            Assert.That(tally.Drifts, Is.GreaterThan(tally.Steps / 10), "the maps drift");
        });
    }
}
