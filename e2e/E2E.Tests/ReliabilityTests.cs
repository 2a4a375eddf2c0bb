using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.E2E.Tests;

/// <summary>
/// Issue 16 with real traffic through the daemon: a UDP client re-balanced when its backend leaves the Service
/// (the purge of its conntrack entries), and an established connection surviving a restart with another
/// conntrack map size (live resize).
/// </summary>
[TestFixture]
public sealed class ReliabilityTests : ProxiedNodeFixture
{
    private static readonly IPEndPoint DnsVip = new(IPAddress.Parse("10.96.0.53"), 53);
    private const int DnsTargetPort = 5353;

    [Test]
    public async Task A_udp_client_keeps_getting_answers_after_its_backend_is_removed()
    {
        var servers = Enumerable.Range(0, 3)
            .Select(i => UdpEchoServer.Start(Node.Topology.Backends[i].Namespace, new IPEndPoint(Node.Topology.Backends[i].Address, DnsTargetPort)))
            .ToList();
        var stopped = -1;
        try
        {
            WriteDnsService([0, 1, 2]);
            using var client = NetnsSockets.CreateUdp(Node.ClientNamespace);
            // The same socket, so the same 5-tuple (and conntrack entry) throughout.
            var first = await AskUntilAnsweredAsync(client, servers, "before", TimeSpan.FromSeconds(10));
            Assert.That(first, Is.Not.Null, "the UDP Service never answered");
            var again = await AskUntilAnsweredAsync(client, servers, "again", TimeSpan.FromSeconds(2));
            Assert.That(again, Is.EqualTo(first), "a UDP flow sticks to its backend while it lives");

            // The backend goes: its server stops (a black hole for the flow) and the slice no longer lists it.
            stopped = first!.Value;
            servers[stopped].Dispose();
            WriteDnsService(Enumerable.Range(0, 3).Where(i => i != first.Value).ToArray());
            var after = await AskUntilAnsweredAsync(client, servers, "after", TimeSpan.FromSeconds(10));
            var metrics = await NetnsHttp.TryGetAsync(Node.NodeNamespace, ProxiedNode.MetricsEndpoint, "/metrics");
            await TestContext.Out.WriteLineAsync($"backend {first} removed; the same client socket answered by {after?.ToString() ?? "nobody"}");

            Assert.Multiple(() =>
            {
                Assert.That(after, Is.Not.Null.And.Not.EqualTo(first), "the flow was re-balanced to a live backend");
                Assert.That(metrics?.Body, Does.Match(@"proxyreplacement_conntrack_backend_purged_entries_total [1-9]"), "the purge is counted");
            });
        }
        finally
        {
            foreach (var server in servers.Where((_, i) => i != stopped))
                server.Dispose();
        }
    }

    [Test]
    public async Task An_established_connection_survives_a_restart_with_another_conntrack_map_size()
    {
        using var connection = await NetnsSockets.ConnectTcpAsync(Node.ClientNamespace, Node.Service.Vip);
        var before = await ServiceClient.AskAsync(connection, "before the resize");
        var conntrackPath = PinRoot.PathOf(Node.PinRoot, CoreObjectNames.Conntrack);
        uint oldId;
        using (var pinned = BpfMap<ConntrackKey4, ConntrackValue4>.OpenPinned(conntrackPath))
            oldId = pinned.Id;

        Node.Daemon!.Terminate(TimeSpan.FromSeconds(15));
        var second = Node.StartDaemon("--conntrack-map-size", "4096");
        await Node.WaitUntilReadyAsync(second);
        var after = await ServiceClient.AskAsync(connection, "after the resize");
        using var resized = BpfMap<ConntrackKey4, ConntrackValue4>.OpenPinned(conntrackPath);
        var newConnections = await ServiceClient.TallyAsync(Node.ClientNamespace, Node.Service.Vip, count: 12);

        Assert.Multiple(() =>
        {
            Assert.That(second.HasExited, Is.False, $"{second.Label} refused the new size:\n{second.Output}");
            Assert.That(after, Is.EqualTo(before), "same connection, same backend");
            Assert.That(resized.MaxEntries, Is.EqualTo(4096));
            Assert.That(resized.Id, Is.Not.EqualTo(oldId), "a new map is pinned");
            Assert.That(second.Output, Does.Contain("resized from 262144 to 4096"));
            Assert.That(newConnections.Keys, Is.EquivalentTo(Names(InitialBackends)));
        });
    }

    [Test]
    public async Task A_backend_entry_overwritten_behind_the_daemons_back_is_repaired_by_the_periodic_check()
    {
        Node.Daemon!.Terminate(TimeSpan.FromSeconds(15));
        var daemon = Node.StartDaemon("--sync-period", "2s");
        await Node.WaitUntilReadyAsync(daemon);
        var backendsPath = PinRoot.PathOf(Node.PinRoot, CoreObjectNames.Backends);
        using var backends = BpfMap<NatBackendKey, NatBackendValue4>.OpenPinned(backendsPath);
        var (key, programmed) = backends.ReadAll().First();
        // What a stray tool or an old daemon might do: the Service's backend now points where nothing answers.
        backends.Update(key, new NatBackendValue4(IPAddress.Parse("10.244.250.250"), programmed.Port));

        var (repaired, took) = await Poll.UntilAsync(
            () => Task.FromResult(backends.TryLookup(key, out var now) && now.Equals(programmed) ? "repaired" : null), TimeSpan.FromSeconds(20));
        var metrics = await NetnsHttp.TryGetAsync(Node.NodeNamespace, ProxiedNode.MetricsEndpoint, "/metrics");
        var tally = await ServiceClient.TallyAsync(Node.ClientNamespace, Node.Service.Vip, count: 12);
        await TestContext.Out.WriteLineAsync($"repaired after {took.TotalSeconds:F1} s; then {Describe(tally)}");

        Assert.Multiple(() =>
        {
            Assert.That(repaired, Is.Not.Null, $"the entry was never repaired:\n{daemon.Output}");
            Assert.That(daemon.Output, Does.Contain("Drift: 1 NAT map entries"), "the drift is logged with what it found");
            Assert.That(metrics?.Body, Does.Match(@"proxyreplacement_drift_checks_total\{outcome=""drift""\} [1-9]"), "and counted");
            Assert.That(tally.Keys, Is.SubsetOf(Names(InitialBackends)), "traffic reaches the Service's backends again");
        });
    }

    /// <summary>Sends until a backend answers (each try waits 300 ms); returns which backend's server got it.</summary>
    private static async Task<int?> AskUntilAnsweredAsync(System.Net.Sockets.Socket client, List<UdpEchoServer> servers, string payload, TimeSpan limit)
    {
        var (answered, _) = await Poll.UntilAsync(async () =>
        {
            var counts = servers.Select(s => s.Peers.Count).ToArray();
            try
            {
                var (echo, from) = await NetnsSockets.UdpRoundTripAsync(client, DnsVip, payload, TimeSpan.FromMilliseconds(300));
                if (echo != payload || !from.Equals(DnsVip))
                    return null;
            }
            catch (OperationCanceledException)
            {
                return null;
            }
            var index = Enumerable.Range(0, servers.Count).FirstOrDefault(i => servers[i].Peers.Count > counts[i], -1);
            return index < 0 ? null : (object)index;
        }, limit);
        return (int?)answered;
    }

    private void WriteDnsService(int[] backends)
    {
        var endpoints = string.Concat(Node.BackendAddresses(backends).Select(address => $"""
              - addresses: [{address}]
                conditions: {"{ready: true}"}

            """));
        var yaml = $"""
            apiVersion: v1
            kind: Service
            metadata: {"{name: dns, namespace: e2e}"}
            spec:
              clusterIP: {DnsVip.Address}
              clusterIPs: [{DnsVip.Address}]
              ports:
                - {"{name: dns, protocol: UDP, port: 53, targetPort: 5353}"}
            ---
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata:
              name: dns-e2e01
              namespace: e2e
              labels: {"{kubernetes.io/service-name: dns}"}
            addressType: IPv4
            ports:
              - {"{name: dns, protocol: UDP, port: 5353}"}
            endpoints:

            """ + endpoints;
        var staged = Path.Combine(Node.WorkDirectory, "dns.yaml.tmp");
        File.WriteAllText(staged, yaml);
        File.Move(staged, Path.Combine(Node.Manifests.Path, "dns.yaml"), overwrite: true);
    }
}
