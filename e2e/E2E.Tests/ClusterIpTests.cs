using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.E2E.Tests;

/// <summary>A ClusterIP Service programmed by the daemon from a manifest directory, as seen by a client pod.</summary>
[TestFixture]
public sealed class ClusterIpTests : ProxiedNodeFixture
{
    private static readonly TimeSpan PropagationLimit = TimeSpan.FromSeconds(5);

    // A 4th pod is added during the scaling test; it starts with 3 like the other tests.
    protected override int BackendCount => 3;

    [Test]
    public async Task Short_connections_to_the_cluster_ip_reach_every_backend()
    {
        var tally = await ServiceClient.TallyAsync(Node.ClientNamespace, Node.Service.Vip, count: 30);

        await TestContext.Out.WriteLineAsync($"30 connections: {Describe(tally)}");
        Assert.That(tally.Keys, Is.EquivalentTo(Names(InitialBackends)));
    }

    [Test]
    public async Task Health_metrics_and_dump_describe_the_running_proxy()
    {
        var healthz = await NetnsHttp.TryGetAsync(Node.NodeNamespace, ProxiedNode.HealthzEndpoint, "/healthz");
        var metrics = await NetnsHttp.TryGetAsync(Node.NodeNamespace, ProxiedNode.MetricsEndpoint, "/metrics");
        var dump = Node.RunCli("dump", "--bpffs-root", Node.PinRoot, "-o", "json");

        Assert.Multiple(() =>
        {
            Assert.That(healthz?.Status, Is.EqualTo(200), "GET /healthz");
            Assert.That(metrics?.Status, Is.EqualTo(200), "GET /metrics");
            Assert.That(metrics?.Body, Does.Contain("# TYPE "), "Prometheus text format");
            Assert.That(() => JsonDocument.Parse(dump).Dispose(), Throws.Nothing, $"dump -o json is JSON:\n{dump}");
            Assert.That(dump, Does.Contain(Node.Service.Vip.Address.ToString()));
            foreach (var address in Node.BackendAddresses(InitialBackends))
                Assert.That(dump, Does.Contain(address.ToString()));
        });
        // The ClusterIP fast path: --direct-table-size auto on the default 10.96.0.0/12 is 262,144 slots (the cap), and
        // 10.96.0.10 (0x0A60000A) sits in slot 0x0A60000A & 0x3FFFF = 10 (the 0x60 is bits 21-22, above the mask).
        using var json = JsonDocument.Parse(dump);
        var fastPath = json.RootElement.GetProperty("fastPath");
        var frontend = json.RootElement.GetProperty("frontends").EnumerateArray()
            .Single(fe => fe.GetProperty("frontend").GetString() == $"{Node.Service.Vip.Address}:{Node.Service.Vip.Port}/tcp");
        Assert.Multiple(() =>
        {
            Assert.That(fastPath.GetProperty("slots").GetInt32(), Is.EqualTo(262144));
            Assert.That(fastPath.GetProperty("used").GetInt32(), Is.EqualTo(1));
            Assert.That(frontend.GetProperty("fastPathSlot").GetUInt32(), Is.EqualTo(10u));
        });
    }

    [Test]
    public async Task Rewriting_the_endpoint_slice_changes_which_backends_answer_within_seconds()
    {
        // Scale down: backends 0 and 1 only.
        var scaledDown = await ApplyEndpointsAndWaitAsync([0, 1], "scale 3 -> 2");
        // Scale up: a 4th pod appears (a new veth the daemon must attach to), and the slice lists all four.
        Node.AddBackend();
        var scaledUp = await ApplyEndpointsAndWaitAsync([0, 1, 2, 3], "scale 2 -> 4");

        Assert.Multiple(() =>
        {
            Assert.That(scaledDown.Keys, Is.EquivalentTo(Names(0, 1)));
            Assert.That(scaledUp.Keys, Is.EquivalentTo(Names(0, 1, 2, 3)));
        });
    }

    [Test]
    public async Task After_the_service_is_deleted_new_connections_are_refused_fast()
    {
        var vip = Node.Service.Vip;
        Node.Manifests.DeleteService();
        var clock = Stopwatch.StartNew();

        // Until the daemon has synced, connections still succeed; none may hang.
        ServiceClient.ConnectOutcome outcome;
        do
        {
            outcome = await ServiceClient.TryConnectAsync(Node.ClientNamespace, vip, TimeSpan.FromSeconds(2));
            Assert.That(outcome.TimedOut, Is.False, $"connect to {vip} hung instead of failing: {outcome}");
            if (outcome.Connected)
                await Task.Delay(50);
        }
        while (outcome.Connected && clock.Elapsed < PropagationLimit);
        await TestContext.Out.WriteLineAsync($"service deletion: first rejected connect {clock.ElapsedMilliseconds} ms after the file was removed ({outcome})");
        Assert.That(outcome.Connected, Is.False, $"connections to {vip} still succeed {PropagationLimit.TotalSeconds:0} s after the Service was deleted");

        var later = new List<ServiceClient.ConnectOutcome>();
        for (var attempt = 0; attempt < 5; attempt++)
            later.Add(await ServiceClient.TryConnectAsync(Node.ClientNamespace, vip, TimeSpan.FromSeconds(2)));

        await TestContext.Out.WriteLineAsync($"then: {string.Join("; ", later)}");
        Assert.That(later, Has.All.Matches<ServiceClient.ConnectOutcome>(o =>
                !o.TimedOut && o.Error is SocketError.ConnectionRefused or SocketError.ConnectionReset && o.Elapsed < TimeSpan.FromSeconds(2)),
            "every new connection is refused or reset within 2 s");
    }

    [Test]
    public async Task New_connections_take_the_fast_path_slot_which_follows_the_endpoints()
    {
        var vip = Node.Service.Vip;
        var slot = PinnedNatMaps.DirectSlot(Node.PinRoot, vip.Address);
        Assert.That(slot, Is.Not.Null, "the daemon's defaults turn the ClusterIP fast path on");
        Assert.Multiple(() =>
        {
            Assert.That(slot!.Value.IsSealed, Is.True, $"slot {slot}");
            Assert.That(slot.Value.Frontend, Is.EqualTo(new NatFrontendKey4(vip.Address, (ushort)vip.Port, L4Protocol.Tcp)));
            Assert.That(slot.Value.GetBackends().Select(b => b.Address), Is.EquivalentTo(Node.BackendAddresses(InitialBackends)));
        });

        var before = Node.Counters();
        var tally = await ServiceClient.TallyAsync(Node.ClientNamespace, vip, count: 30);
        var after = Node.Counters();
        await TestContext.Out.WriteLineAsync($"30 connections: {Describe(tally)}; nat_direct +{after[CounterReason.NatDirect] - before[CounterReason.NatDirect]}, " +
                                             $"nat_new_flow +{after[CounterReason.NatNewFlow] - before[CounterReason.NatNewFlow]}");
        Assert.Multiple(() =>
        {
            Assert.That(tally.Keys, Is.EquivalentTo(Names(InitialBackends)));
            Assert.That(after[CounterReason.NatDirect] - before[CounterReason.NatDirect], Is.GreaterThanOrEqualTo(30UL),
                "every new connection was balanced from the slot");
        });

        // one backend left: the slot is rewritten before the others' backends go, and only that one answers
        var scaledDown = await ApplyEndpointsAndWaitAsync([2], "scale 3 -> 1");
        var shrunk = PinnedNatMaps.DirectSlot(Node.PinRoot, vip.Address);
        Assert.Multiple(() =>
        {
            Assert.That(scaledDown.Keys, Is.EquivalentTo(Names(2)));
            Assert.That(shrunk?.GetBackends().Select(b => b.Address), Is.EquivalentTo(Node.BackendAddresses([2])));
            Assert.That(shrunk?.IsSealed, Is.True);
        });
    }

    /// <summary>
    /// Rewrites the EndpointSlice to list <paramref name="backendIndexes"/>, polls until exactly those answer
    /// (at most <see cref="PropagationLimit"/>), records how long it took, then confirms over 30 more connections.
    /// </summary>
    private async Task<IReadOnlyDictionary<string, int>> ApplyEndpointsAndWaitAsync(int[] backendIndexes, string step)
    {
        var expected = Names(backendIndexes);
        Node.Manifests.WriteEndpointSlice(Node.Service, Node.BackendAddresses(backendIndexes));
        IReadOnlyDictionary<string, int>? lastSeen = null;
        var (converged, elapsed) = await Poll.UntilAsync(async () =>
        {
            lastSeen = await ServiceClient.TallyAsync(Node.ClientNamespace, Node.Service.Vip, count: 24);
            return lastSeen.Keys.ToHashSet().SetEquals(expected) ? lastSeen : null;
        }, PropagationLimit);
        await TestContext.Out.WriteLineAsync($"{step}: {(converged is null ? "NOT converged" : "converged")} after {elapsed.TotalMilliseconds:0} ms" +
                                             $" (last round: {Describe(lastSeen!)})");
        Assert.That(converged, Is.Not.Null,
            $"{step}: after {PropagationLimit.TotalSeconds:0} s the answers came from {Describe(lastSeen!)}, expected exactly {string.Join(", ", expected)}");

        var confirmation = await ServiceClient.TallyAsync(Node.ClientNamespace, Node.Service.Vip, count: 30);
        await TestContext.Out.WriteLineAsync($"{step}: 30 more connections: {Describe(confirmation)}");
        return confirmation;
    }
}
