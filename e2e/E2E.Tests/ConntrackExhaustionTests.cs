using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.E2E.Tests;

/// <summary>
/// Conntrack exhaustion (issue 16, item 3): the daemon runs with a conntrack map of 512 entries and the client opens
/// far more new connections through the ClusterIP than that holds (each TCP flow takes two entries, forward and
/// reverse), while a few established connections are kept talking and a few others sit idle. The active connections
/// must survive on their backend, new connections must keep working, the map must show full in <c>service-proxy dump</c>,
/// and the daemon must keep running and healthy. The test reports how many idle connections the LRU evicted.
/// Measured here (kernel 6.18, 2 CPUs): the map peaks at 91-97 % of its size (the LRU frees ahead); every active
/// connection keeps both entries (each packet's lookup marks them referenced); every idle connection loses them, and
/// when it talks again its next segment opens a new flow (pods' non-SYN packets are balanced like a SYN), so it goes on
/// only if the new choice is its old backend (about 1 in 3 with 3 backends) and is reset otherwise.
/// </summary>
[TestFixture]
public sealed partial class ConntrackExhaustionTests : ProxiedNodeFixture
{
    private const int MapSize = 512;
    private const int NewConnections = 1500; // 3,000 conntrack entries into a map of 512
    private const int Active = 4;
    private const int Idle = 8;
    private const int TalkEvery = 50; // new connections between two rounds on the active ones

    private protected override string[] DaemonArguments(ProxiedNode node) => ["--conntrack-map-size", MapSize.ToString()];

    [Test]
    public async Task Established_flows_that_keep_talking_survive_a_full_conntrack_map_and_new_flows_still_work()
    {
        var vip = Node.Service.Vip;
        var active = new List<(Socket Socket, string Backend)>();
        var idle = new List<(Socket Socket, string Backend)>();
        try
        {
            for (var i = 0; i < Active; i++)
            {
                var socket = await NetnsSockets.ConnectTcpAsync(Node.ClientNamespace, vip);
                active.Add((socket, await ServiceClient.AskAsync(socket, $"active {i}")));
            }
            for (var i = 0; i < Idle; i++)
            {
                var socket = await NetnsSockets.ConnectTcpAsync(Node.ClientNamespace, vip);
                idle.Add((socket, await ServiceClient.AskAsync(socket, $"idle {i}")));
            }

            var clock = Stopwatch.StartNew();
            var failedNew = new List<string>();
            var activeProblems = new List<string>();
            var maxEntries = 0;
            for (var done = 0; done < NewConnections; done += TalkEvery)
            {
                var batch = Enumerable.Range(0, TalkEvery).Select(async _ =>
                {
                    try
                    {
                        await ServiceClient.AskOnceAsync(Node.ClientNamespace, vip, TimeSpan.FromSeconds(5));
                    }
                    catch (Exception error) when (error is SocketException or OperationCanceledException or InvalidOperationException or IOException)
                    {
                        lock (failedNew)
                            failedNew.Add(error.Message);
                    }
                });
                // A few at a time: the flood is about entries, not about overloading a 2-core machine.
                foreach (var chunk in batch.Chunk(5))
                    await Task.WhenAll(chunk);
                for (var i = 0; i < active.Count; i++)
                {
                    try
                    {
                        var answeredBy = await ServiceClient.AskAsync(active[i].Socket, $"active {i} after {done + TalkEvery}", TimeSpan.FromSeconds(5));
                        if (answeredBy != active[i].Backend)
                            activeProblems.Add($"active {i}: answered by {answeredBy}, was {active[i].Backend}, after {done + TalkEvery} new connections");
                    }
                    catch (Exception error) when (error is SocketException or OperationCanceledException or InvalidOperationException or IOException)
                    {
                        activeProblems.Add($"active {i}: {error.GetType().Name} {error.Message} after {done + TalkEvery} new connections");
                    }
                }
                maxEntries = Math.Max(maxEntries, ConntrackEntries().Count);
            }
            var flood = clock.Elapsed;
            var dump = Node.RunCli("dump", "--bpffs-root", Node.PinRoot);
            var dumpCount = int.Parse(ConntrackHeading().Match(dump).Groups["count"].Value);

            // What the LRU kept: the conntrack entries of every established connection, then whether each still answers.
            var entries = ConntrackEntries();
            int Tracked(IEnumerable<(Socket Socket, string Backend)> connections) => connections.Count(c =>
            {
                var local = (IPEndPoint)c.Socket.LocalEndPoint!;
                return entries.ContainsKey(new ConntrackKey4(local.Address, (ushort)local.Port, vip.Address, (ushort)vip.Port, L4Protocol.Tcp));
            });
            var activeTracked = Tracked(active);
            var idleTracked = Tracked(idle);
            var idleStillServed = 0;
            var idleOutcomes = new List<string>();
            for (var i = 0; i < idle.Count; i++)
            {
                try
                {
                    var answeredBy = await ServiceClient.AskAsync(idle[i].Socket, $"idle {i} after the flood", TimeSpan.FromSeconds(3));
                    idleOutcomes.Add(answeredBy == idle[i].Backend ? "same backend" : $"moved to {answeredBy}");
                    if (answeredBy == idle[i].Backend)
                        idleStillServed++;
                }
                catch (Exception error) when (error is SocketException or OperationCanceledException or InvalidOperationException or IOException)
                {
                    idleOutcomes.Add(error is SocketException socketError ? socketError.SocketErrorCode.ToString() : error.GetType().Name);
                }
            }

            var after = await ServiceClient.TallyAsync(Node.ClientNamespace, vip, count: 20);
            var health = await NetnsHttp.TryGetAsync(Node.NodeNamespace, ProxiedNode.HealthzEndpoint, "/healthz");
            var metrics = await NetnsHttp.TryGetAsync(Node.NodeNamespace, ProxiedNode.MetricsEndpoint, "/metrics");
            var fillLines = (metrics?.Body ?? "").Split('\n')
                .Where(line => !line.StartsWith('#') && line.Contains("pr_ct4", StringComparison.Ordinal) || line.Contains("conntrack_entries", StringComparison.Ordinal))
                .ToList();

            await TestContext.Out.WriteLineAsync(
                $"{NewConnections} new connections ({2 * NewConnections} conntrack entries) into a map of {MapSize} in {flood.TotalSeconds:0.0} s, " +
                $"{failedNew.Count} failed; most entries seen {maxEntries}, dump shows {dumpCount}.\n" +
                $"active connections (talking every {TalkEvery} new ones): {activeTracked}/{Active} still tracked, problems: {activeProblems.Count}\n" +
                $"idle connections (silent through the flood): {idleTracked}/{Idle} still tracked; on talking again: {string.Join(", ", idleOutcomes)}\n" +
                $"20 new connections after the flood: {Describe(after)}\n" +
                $"map fill metrics: {(fillLines.Count == 0 ? "none on /metrics" : string.Join("; ", fillLines))}");

            Assert.Multiple(() =>
            {
                Assert.That(activeProblems, Is.Empty, "active connections keep answering on their backend");
                Assert.That(activeTracked, Is.EqualTo(Active), "active connections keep their conntrack entries");
                Assert.That(failedNew, Has.Count.LessThanOrEqualTo(NewConnections / 100), "new connections work while the map is full: " + string.Join("; ", failedNew.Take(5)));
                Assert.That(after.Values.Sum(), Is.EqualTo(20), "new connections after the flood");
                // "Full" for an LRU hash: the kernel keeps free nodes on per-CPU lists and evicts in batches before
                // max_entries is reached (measured here: 91-97 % of 512 at the most, 76-93 % at a given moment), so three quarters (two thirds for one reading) is full.
                Assert.That(maxEntries, Is.GreaterThanOrEqualTo(MapSize * 3 / 4).And.LessThanOrEqualTo(MapSize), "the map fills up to its size");
                Assert.That(dumpCount, Is.GreaterThanOrEqualTo(MapSize * 2 / 3).And.LessThanOrEqualTo(MapSize), "dump right after the flood shows the map full");
                Assert.That(Node.Daemon!.HasExited, Is.False, "the daemon keeps running");
                Assert.That(health?.Status, Is.EqualTo(200), "the daemon stays healthy");
            });
        }
        finally
        {
            foreach (var (socket, _) in active.Concat(idle))
                socket.Dispose();
        }
    }

    private Dictionary<ConntrackKey4, ConntrackValue4> ConntrackEntries()
    {
        using var map = BpfMap<ConntrackKey4, ConntrackValue4>.OpenPinned(PinRoot.PathOf(Node.PinRoot, CoreObjectNames.Conntrack));
        Assert.That(map.MaxEntries, Is.EqualTo(MapSize), "the daemon sized the conntrack map from --conntrack-map-size");
        return map.ReadAll().ToDictionary(entry => entry.Key, entry => entry.Value);
    }

    [GeneratedRegex(@"CONNTRACK \((?<count>\d+)\)")]
    private static partial Regex ConntrackHeading();
}
