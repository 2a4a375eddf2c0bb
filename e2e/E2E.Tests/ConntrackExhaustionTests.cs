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
/// 1,500 new connections through the ClusterIP (each TCP flow takes two entries, forward and reverse: 3,000 entries),
/// while four groups of four established connections talk every 5, 25 or 100 new connections, or never. The most
/// active group must survive on its backend with its entries, new connections must keep working, the map must show
/// (nearly) full in <c>service-proxy dump</c>, and the daemon must keep running and healthy. The other groups are
/// reported, not asserted: they measure the LRU.
/// Measured here (kernel 6.18, 2 CPUs, 5 runs): the map peaks at 92-98 % of its size and reads 82-93 % right after
/// the flood (the BPF LRU keeps free nodes per CPU and evicts ahead). Talking every 10 or 50 new entries: 4/4 kept in
/// every run. Every 200 new entries (40 % of the map): 4/4, 4/4, 4/4, 2/4, 0/4: an entry referenced that rarely is
/// evicted. Idle: 0/4 tracked in every run; an evicted connection that talks again opens a new flow (pods' non-SYN
/// packets are balanced like a SYN), so it goes on only when the new choice is its old backend (about 1 in 3 with 3
/// backends, seen 0-3 of 4) and is reset otherwise. No fill gauge exists on /metrics yet (item 3 adds it).
/// </summary>
[TestFixture]
public sealed partial class ConntrackExhaustionTests : ProxiedNodeFixture
{
    private const int MapSize = 512;
    private const int NewConnections = 1500; // 3,000 conntrack entries into a map of 512
    private const int Batch = 5; // new connections between two looks at the established ones
    private const int PerGroup = 4;

    /// <summary>How often each group of established connections talks: every N new connections (0: never, idle).</summary>
    private static readonly int[] TalkEvery = [5, 25, 100, 0];

    private protected override string[] DaemonArguments(ProxiedNode node) => ["--conntrack-map-size", MapSize.ToString()];

    private sealed record Established(Socket Socket, string Backend, int TalkEvery, int Index)
    {
        public string? Problem { get; set; }
    }

    private static bool IsNetworkError(Exception error) =>
        error is SocketException or OperationCanceledException or InvalidOperationException or IOException;

    [Test]
    public async Task Established_flows_that_keep_talking_survive_a_full_conntrack_map_and_new_flows_still_work()
    {
        var vip = Node.Service.Vip;
        var established = new List<Established>();
        try
        {
            foreach (var every in TalkEvery)
                for (var i = 0; i < PerGroup; i++)
                {
                    var socket = await NetnsSockets.ConnectTcpAsync(Node.ClientNamespace, vip);
                    established.Add(new Established(socket, await ServiceClient.AskAsync(socket, $"hello {every}/{i}"), every, i));
                }

            var clock = Stopwatch.StartNew();
            var failedNew = new List<string>();
            var maxEntries = 0;
            for (var done = Batch; done <= NewConnections; done += Batch)
            {
                var batch = Enumerable.Range(0, Batch).Select(async _ =>
                {
                    try
                    {
                        await ServiceClient.AskOnceAsync(Node.ClientNamespace, vip, TimeSpan.FromSeconds(5));
                    }
                    catch (Exception error) when (IsNetworkError(error))
                    {
                        lock (failedNew)
                            failedNew.Add(error.Message);
                    }
                });
                await Task.WhenAll(batch);
                foreach (var connection in established.Where(c => c.TalkEvery > 0 && done % c.TalkEvery == 0 && c.Problem is null))
                    connection.Problem = await Talk(connection, $"after {done} new connections");
                if (done % 50 == 0)
                    maxEntries = Math.Max(maxEntries, ConntrackEntries().Count);
            }
            var flood = clock.Elapsed;
            var dump = Node.RunCli("dump", "--bpffs-root", Node.PinRoot);
            var dumpCount = int.Parse(ConntrackHeading().Match(dump).Groups["count"].Value);

            // What the LRU kept of each group: the forward entries, then whether each connection still answers on its backend.
            var entries = ConntrackEntries();
            bool Tracked(Established c)
            {
                var local = (IPEndPoint)c.Socket.LocalEndPoint!;
                return entries.ContainsKey(new ConntrackKey4(local.Address, (ushort)local.Port, vip.Address, (ushort)vip.Port, L4Protocol.Tcp));
            }
            var tracked = established.ToDictionary(c => (object)c, c => Tracked(c), ReferenceEqualityComparer.Instance);
            foreach (var connection in established.Where(c => c.Problem is null))
                connection.Problem = await Talk(connection, "after the flood");

            var after = await ServiceClient.TallyAsync(Node.ClientNamespace, vip, count: 20);
            var health = await NetnsHttp.TryGetAsync(Node.NodeNamespace, ProxiedNode.HealthzEndpoint, "/healthz");
            var metrics = await NetnsHttp.TryGetAsync(Node.NodeNamespace, ProxiedNode.MetricsEndpoint, "/metrics");
            var fillLines = (metrics?.Body ?? "").Split('\n')
                .Where(line => !line.StartsWith('#') && (line.Contains("pr_ct4", StringComparison.Ordinal) || line.Contains("conntrack_entries", StringComparison.Ordinal)))
                .ToList();

            var report = new System.Text.StringBuilder(
                $"{NewConnections} new connections ({2 * NewConnections} conntrack entries) into a map of {MapSize} in {flood.TotalSeconds:0.0} s, " +
                $"{failedNew.Count} failed; most entries seen {maxEntries}, dump right after shows {dumpCount}.\n");
            foreach (var group in established.GroupBy(c => c.TalkEvery))
                report.Append($"talking {(group.Key == 0 ? "never (idle)" : $"every {group.Key} new connections ({2 * group.Key} entries)")}: " +
                              $"{group.Count(c => tracked[c])}/{group.Count()} still tracked, {group.Count(c => c.Problem is null)}/{group.Count()} still on their backend" +
                              $"{string.Concat(group.Where(c => c.Problem is not null).Select(c => $"; #{c.Index} {c.Problem}"))}\n");
            report.Append($"20 new connections after the flood: {Describe(after)}\n");
            report.Append($"map fill metrics: {(fillLines.Count == 0 ? "none on /metrics" : string.Join("; ", fillLines))}");
            await TestContext.Out.WriteLineAsync(report.ToString());

            var mostActive = established.Where(c => c.TalkEvery == TalkEvery[0]).ToList();
            Assert.Multiple(() =>
            {
                Assert.That(mostActive.Select(c => c.Problem).OfType<string>(), Is.Empty, "connections that talk every few new flows keep answering on their backend");
                Assert.That(mostActive.Count(c => tracked[c]), Is.EqualTo(PerGroup), "... and keep their conntrack entries");
                Assert.That(failedNew, Has.Count.LessThanOrEqualTo(NewConnections / 100), "new connections work while the map is full: " + string.Join("; ", failedNew.Take(5)));
                Assert.That(after.Values.Sum(), Is.EqualTo(20), "new connections after the flood");
                // "Full" for an LRU hash: the kernel keeps free nodes on per-CPU lists and evicts in batches before
                // max_entries is reached, so three quarters is full for the peak and half for a single reading.
                Assert.That(maxEntries, Is.GreaterThanOrEqualTo(MapSize * 3 / 4).And.LessThanOrEqualTo(MapSize), "the map fills up to its size");
                Assert.That(dumpCount, Is.GreaterThanOrEqualTo(MapSize / 2).And.LessThanOrEqualTo(MapSize), "dump right after the flood shows the map (nearly) full");
                Assert.That(Node.Daemon!.HasExited, Is.False, "the daemon keeps running");
                Assert.That(health?.Status, Is.EqualTo(200), "the daemon stays healthy");
            });
        }
        finally
        {
            foreach (var connection in established)
                connection.Socket.Dispose();
        }
    }

    /// <summary>One line on the connection: null when its backend answered, else what happened.</summary>
    private static async Task<string?> Talk(Established connection, string when)
    {
        try
        {
            var answeredBy = await ServiceClient.AskAsync(connection.Socket, $"{connection.TalkEvery}/{connection.Index} {when}", TimeSpan.FromSeconds(3));
            return answeredBy == connection.Backend ? null : $"moved from {connection.Backend} to {answeredBy} {when}";
        }
        catch (Exception error) when (IsNetworkError(error))
        {
            return $"{(error is SocketException socketError ? socketError.SocketErrorCode.ToString() : error.GetType().Name)} {when}";
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
