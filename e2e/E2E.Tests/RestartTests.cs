using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.E2E.Tests;

/// <summary>SIGTERM leaves the dataplane serving; a new daemon adopts the pinned maps instead of rebuilding them.</summary>
[TestFixture]
public sealed class RestartTests : ProxiedNodeFixture
{
    [Test]
    public async Task An_established_connection_survives_a_daemon_restart_and_the_maps_are_not_churned()
    {
        using var connection = await NetnsSockets.ConnectTcpAsync(Node.ClientNamespace, Node.Service.Vip);
        var before = await ServiceClient.AskAsync(connection, "before the restart");
        var mapsBefore = PinnedNatMaps.Snapshot(Node.PinRoot);

        var first = Node.Daemon!;
        var exitCode = first.Terminate(TimeSpan.FromSeconds(15));
        var whileStopped = await ServiceClient.AskAsync(connection, "while no daemon runs");

        var second = Node.StartDaemon();
        var took = await Node.WaitUntilReadyAsync(second);
        var after = await ServiceClient.AskAsync(connection, "after the restart");
        var mapsAfter = PinnedNatMaps.Snapshot(Node.PinRoot);
        var newConnections = await ServiceClient.TallyAsync(Node.ClientNamespace, Node.Service.Vip, count: 30);

        await TestContext.Out.WriteLineAsync($"connection answered by {before} / {whileStopped} / {after}; {second.Label} ready after {took.TotalMilliseconds:0} ms");
        await TestContext.Out.WriteLineAsync($"maps before: {mapsBefore}\nmaps after:  {mapsAfter}");
        await TestContext.Out.WriteLineAsync($"30 new connections after the restart: {Describe(newConnections)}");
        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.Zero, $"{first.Label} exit code after SIGTERM");
            Assert.That(whileStopped, Is.EqualTo(before), "the dataplane keeps serving while no daemon runs");
            Assert.That(after, Is.EqualTo(before), "same connection, same backend after the restart");
            Assert.That(mapsAfter.FrontendMapId, Is.EqualTo(mapsBefore.FrontendMapId), "frontend map adopted, not recreated");
            Assert.That(mapsAfter.BackendMapId, Is.EqualTo(mapsBefore.BackendMapId), "backend map adopted, not recreated");
            Assert.That(mapsAfter.Frontends, Is.EqualTo(mapsBefore.Frontends), "frontend entries (service ids) unchanged");
            Assert.That(mapsAfter.Backends, Is.EqualTo(mapsBefore.Backends), "backend entries (ordinals) unchanged");
            Assert.That(newConnections.Keys, Is.EquivalentTo(Names(InitialBackends)), "the new daemon serves new connections");
        });
    }
}
