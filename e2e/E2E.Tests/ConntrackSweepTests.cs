using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.E2E.Tests;

/// <summary>
/// Conntrack lifecycle through the daemon: 10,000 short TCP connections through the ClusterIP leave 20,000 entries
/// (forward and reverse); after their timeout (the closed-TCP timeout, set to 1 s here) the sweeper has removed
/// every one of them, and counted them.
/// </summary>
[TestFixture]
public sealed class ConntrackSweepTests : ProxiedNodeFixture
{
    private const int Connections = 10_000;
    private const int Clients = 4;

    private protected override string[] DaemonArguments(ProxiedNode node) =>
        ["--conntrack-tcp-timeout-close", "1s", "--conntrack-sweep-interval", "1s"];

    [Test]
    public async Task Ten_thousand_short_connections_leave_no_conntrack_entry_after_their_timeout()
    {
        var done = 0;
        var clients = Enumerable.Range(0, Clients).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref done) <= Connections)
                await ServiceClient.AskOnceAsync(Node.ClientNamespace, Node.Service.Vip, TimeSpan.FromSeconds(5));
        }));
        await Task.WhenAll(clients);
        var client = Node.Topology.Client.Address;
        using var conntrack = BpfMap<ConntrackKey4, ConntrackValue4>.OpenPinned(PinRoot.PathOf(Node.PinRoot, CoreObjectNames.Conntrack));
        int Remaining() => conntrack.ReadAll().Count(e => e.Key.Source.Equals(client) || e.Key.Destination.Equals(client));
        var right = Remaining(); // the sweeper runs meanwhile: those of the first connections are gone already

        var (swept, elapsed) = await Poll.UntilAsync(() => Task.FromResult(Remaining() == 0 ? (object)true : null), TimeSpan.FromSeconds(30));
        var metrics = await NetnsHttp.TryGetAsync(Node.NodeNamespace, ProxiedNode.MetricsEndpoint, "/metrics");
        var deleted = metrics?.Body.Split('\n').FirstOrDefault(l => l.StartsWith("proxyreplacement_conntrack_swept_entries_total ", StringComparison.Ordinal));
        await TestContext.Out.WriteLineAsync($"{Connections} connections: {right} entries of the client right after; " +
                                             $"{(swept is null ? "NOT all gone" : "all gone")} {elapsed.TotalSeconds:F1} s later; {deleted}");

        Assert.Multiple(() =>
        {
            Assert.That(Remaining(), Is.Zero, "entries of the client left in pr_ct4");
            Assert.That(long.Parse(deleted?.Split(' ')[1] ?? "0"), Is.GreaterThanOrEqualTo(2L * Connections), "swept entries counted");
        });
    }
}
