using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.E2E.Tests;

/// <summary>
/// External traffic to a node without the backend, in each external service mode (every daemon runs with
/// <c>--external-service-mode MODE</c>): the client (192.168.60.100) talks to node a's NodePort, the Service's only
/// endpoint is pod b0 on node b. snat: node a rewrites the source to its own address and the reply returns through it;
/// tunnel: node a encapsulates to node b, the backend sees the client's address and the reply returns through the tunnel;
/// dsr: as tunnel, but node b answers the client directly (nothing of the reply passes node a, shown by node a's
/// counters). Established connections survive restarts of node a's daemon; 1,400-byte payloads and a megabyte each way
/// pass in every mode. Each mode runs twice: with wire-sized packets (an MTU overrun shows as on a real link) and with
/// segmentation offload on (the veths' default: the programs then encapsulate and decapsulate GSO super-packets, which
/// the kernel segments afterwards).
/// </summary>
[TestFixture("snat", false)]
[TestFixture("tunnel", false)]
[TestFixture("dsr", false)]
[TestFixture("snat", true)]
[TestFixture("tunnel", true)]
[TestFixture("dsr", true)]
[Category("MultiNodeModes")]
public sealed class MultiNodeModeTests(string mode, bool offload) : ProxiedClusterFixture
{
    private protected override bool SegmentationOffload => offload;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    private protected override string[] DaemonArguments => ["--external-service-mode", mode];

    /// <summary>The client address the backend sees: node a's in snat mode, the client's own otherwise.</summary>
    private IPAddress ExpectedPeer => mode == "snat" ? NodeA.Address : ClusterTopology.ExternalAddress;

    private string External => Cluster.External.Namespace;

    [Test]
    public async Task Tcp_to_the_node_port_of_a_node_without_the_backend_is_answered()
    {
        var before = CountersOfAAndB();

        using var connection = await NetnsSockets.ConnectTcpAsync(External, NodeA.Endpoint(Web.HttpNodePort), Timeout);
        var (backend, peer) = await ServiceClient.AskPeerAsync(connection, Timeout);
        var again = await ServiceClient.AskAsync(connection, "again", Timeout);

        Assert.Multiple(() =>
        {
            Assert.That(backend, Is.EqualTo("backend-b0"));
            Assert.That(again, Is.EqualTo("backend-b0"));
            Assert.That(peer.Address, Is.EqualTo(ExpectedPeer), $"the client address the backend sees in {mode} mode");
        });
        AssertTheReplyPath(before);
    }

    [Test]
    public async Task Udp_to_the_node_port_of_a_node_without_the_backend_is_answered()
    {
        var before = CountersOfAAndB();
        using var socket = NetnsSockets.CreateUdp(External);
        var nodePort = NodeA.Endpoint(Web.UdpNodePort);

        var (payload, from) = await NetnsSockets.UdpRoundTripAsync(socket, nodePort, "over udp", Timeout);

        Assert.Multiple(() =>
        {
            Assert.That(payload, Is.EqualTo("over udp"));
            Assert.That(from, Is.EqualTo(nodePort), "the answer comes from the address the client sent to");
            Assert.That(Cluster.Backend("b0").Udp.Peers.Last().Address, Is.EqualTo(ExpectedPeer), $"the sender the backend sees in {mode} mode");
        });
        AssertTheReplyPath(before);
    }

    [TestCase(false, TestName = "{m}(SIGTERM)")]
    [TestCase(true, TestName = "{m}(SIGKILL)")]
    public async Task An_established_connection_survives_a_restart_of_the_ingress_nodes_daemon(bool kill)
    {
        using var connection = await NetnsSockets.ConnectTcpAsync(External, NodeA.Endpoint(Web.HttpNodePort), Timeout);
        var before = await ServiceClient.AskPeerAsync(connection, Timeout);

        var gap = await NodeA.RestartDaemonAsync(kill, () => Web.IsProgrammed(NodeA.PinRoot, NodeA.Address));
        var after = await ServiceClient.AskPeerAsync(connection, Timeout);
        var fresh = await ServiceClient.AskOnceAsync(External, NodeA.Endpoint(Web.HttpNodePort), Timeout);
        await TestContext.Out.WriteLineAsync($"{(kill ? "SIGKILL" : "SIGTERM")}: node a ran {gap.TotalMilliseconds:0} ms without a ready daemon");

        Assert.Multiple(() =>
        {
            Assert.That(after, Is.EqualTo(before), "the same connection, backend and client address across the restart");
            Assert.That(before.Peer.Address, Is.EqualTo(ExpectedPeer));
            Assert.That(fresh, Is.EqualTo("backend-b0"), "a new connection after the restart");
        });
    }

    [Test]
    public async Task Payloads_of_1400_bytes_pass_both_ways_over_tcp_and_udp()
    {
        var payload = EchoClient.Payload(1400);
        using var tcp = await NetnsSockets.ConnectTcpAsync(External, NodeA.Endpoint(Web.EchoNodePort), Timeout);
        using var udp = NetnsSockets.CreateUdp(External);

        var tcpEchoes = new List<byte[]>();
        var udpEchoes = new List<byte[]>();
        for (var i = 0; i < 3; i++)
        {
            tcpEchoes.Add(await EchoClient.ExchangeAsync(tcp, payload, Timeout));
            udpEchoes.Add((await NetnsSockets.UdpRoundTripAsync(udp, NodeA.Endpoint(Web.UdpNodePort), payload, Timeout)).Payload);
        }

        Assert.Multiple(() =>
        {
            Assert.That(tcpEchoes, Has.All.EqualTo(payload), "1,400 bytes each way on one TCP connection, three times");
            Assert.That(udpEchoes, Has.All.EqualTo(payload), "a 1,400-byte datagram each way, three times");
        });
    }

    [Test]
    public async Task A_megabyte_passes_each_way_on_one_tcp_connection()
    {
        var payload = EchoClient.Payload(1 << 20, seed: 2);
        var before = CountersOfAAndB();
        using var connection = await NetnsSockets.ConnectTcpAsync(External, NodeA.Endpoint(Web.EchoNodePort), Timeout);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var echoed = await EchoClient.ExchangeAsync(connection, payload, TimeSpan.FromSeconds(20));
        await TestContext.Out.WriteLineAsync($"1 MiB each way in {clock.ElapsedMilliseconds} ms ({mode}); {DescribeChanges(before)}");

        Assert.That(echoed.Length, Is.EqualTo(payload.Length), "bytes echoed");
        Assert.That(echoed.AsSpan().SequenceEqual(payload), Is.True, "the same bytes, in order");
    }

    private (IReadOnlyDictionary<CounterReason, ulong> A, IReadOnlyDictionary<CounterReason, ulong> B) CountersOfAAndB() => (NodeA.Counters(), NodeB.Counters());

    private static ulong Delta(IReadOnlyDictionary<CounterReason, ulong> after, IReadOnlyDictionary<CounterReason, ulong> before, CounterReason counter) =>
        after.GetValueOrDefault(counter) - before.GetValueOrDefault(counter);

    /// <summary>The counters of nodes a and b that moved since <paramref name="before"/>, e.g. "node a: NatReverse +4, ...".</summary>
    private string DescribeChanges((IReadOnlyDictionary<CounterReason, ulong> A, IReadOnlyDictionary<CounterReason, ulong> B) before)
    {
        var (a, b) = CountersOfAAndB();
        static string Moved(IReadOnlyDictionary<CounterReason, ulong> after, IReadOnlyDictionary<CounterReason, ulong> earlier) =>
            string.Join(", ", after.Keys.Where(name => Delta(after, earlier, name) != 0).Select(name => $"{name} +{Delta(after, earlier, name)}"));
        return $"node a: {Moved(a, before.A)}; node b: {Moved(b, before.B)}";
    }

    /// <summary>
    /// In dsr mode, node a reverse-NATs nothing while the flow runs (its replies leave node b straight to the client) and
    /// node b counts the DSR replies; in snat and tunnel modes the replies pass node a, which reverse-NATs them.
    /// </summary>
    private void AssertTheReplyPath((IReadOnlyDictionary<CounterReason, ulong> A, IReadOnlyDictionary<CounterReason, ulong> B) before)
    {
        var (a, b) = CountersOfAAndB();
        var reverseOnA = Delta(a, before.A, CounterReason.NatReverse);
        var dsrOnB = Delta(b, before.B, CounterReason.DsrReply);
        TestContext.Out.WriteLine($"{mode}: {DescribeChanges(before)}");
        Assert.Multiple(() =>
        {
            if (mode == "dsr")
            {
                Assert.That(reverseOnA, Is.Zero, "dsr: no reply passes node a");
                Assert.That(dsrOnB, Is.GreaterThan(0UL), "dsr: node b answers the client directly");
            }
            else
            {
                Assert.That(reverseOnA, Is.GreaterThan(0UL), $"{mode}: the replies return through node a");
                Assert.That(dsrOnB, Is.Zero, $"{mode}: no DSR reply");
            }
        });
    }
}
