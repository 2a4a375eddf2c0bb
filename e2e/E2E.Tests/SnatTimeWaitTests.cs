using System.Globalization;
using System.Net;
using System.Net.Sockets;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.E2E.Tests;

/// <summary>
/// SNAT ports and the backend's TIME_WAIT (README, "External traffic across nodes"): the external client makes short
/// connections to node a's NodePort, SNATed to pod b0 on node b, and the backend closes each one first, so pod b0 keeps
/// {b0:8080, node a:SNAT port} in TIME_WAIT for 60 s. Node a runs with a SNAT range of 100 ports, and a closing timeout
/// and sweep interval of 1 s: a closed flow's port would be free again 1 to 2 s after its close if the closing timeout
/// applied, and new flows would then be given ports b0 still holds (its kernel refuses about half those SYNs, PAWS, a 1 s
/// stall each). A SNATed flow closed by FINs keeps its port 70 s (PR_SNAT_TIME_WAIT_S), so over 6 s no port is given twice
/// and b0 refuses nothing.
/// </summary>
[Category("MultiNodeModes")]
public sealed class SnatTimeWaitTests : ProxiedClusterFixture
{
    private const int Connections = 60;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Spacing = TimeSpan.FromMilliseconds(100);

    private protected override string[] DaemonArguments =>
        ["--external-service-mode", "snat", "--snat-port-range", "20000-20099", "--conntrack-tcp-timeout-close", "1s", "--conntrack-sweep-interval", "1s"];

    [Test]
    public async Task Ports_of_connections_the_backend_closed_are_not_given_to_new_flows_during_its_time_wait()
    {
        var backend = Cluster.Backend("b0");
        var external = Cluster.External.Namespace;
        var nodePort = NodeA.Endpoint(Web.HttpNodePort);
        var (pawsBefore, synRetransBefore) = (TcpExt(backend.Pod.Namespace, "PAWSTimewait"), TcpExt(external, "TCPSynRetrans"));
        var peersBefore = backend.Http.Peers.Count;
        var dropsBefore = NodeA.Counters().GetValueOrDefault(CounterReason.DropSnatPorts);

        for (var i = 0; i < Connections; i++)
        {
            using var connection = await NetnsSockets.ConnectTcpAsync(external, nodePort, Timeout);
            var answer = await ServiceClient.AskAsync(connection, NamedBackendServer.CloseRequest, Timeout);
            Assert.That(answer, Is.EqualTo("backend-b0"));
            await ReceiveEndAsync(connection); // the backend's FIN first: it keeps the TIME_WAIT
            await Task.Delay(Spacing);
        }

        var ports = backend.Http.Peers.Skip(peersBefore).Select(peer => peer.Port).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(ports, Has.Count.EqualTo(Connections));
            Assert.That(ports, Is.All.InRange(20000, 20099), "every connection SNATed into the range");
            Assert.That(ports, Is.Unique, "no SNAT port given twice while the backend may hold it in TIME_WAIT");
            Assert.That(TcpExt(backend.Pod.Namespace, "PAWSTimewait") - pawsBefore, Is.Zero, "SYNs b0 refused on a TIME_WAIT tuple");
            Assert.That(TcpExt(external, "TCPSynRetrans") - synRetransBefore, Is.Zero, "the client's SYN retransmissions");
            Assert.That(NodeA.Counters().GetValueOrDefault(CounterReason.DropSnatPorts) - dropsBefore, Is.Zero, "drop_snat_ports: 60 of 100 ports held");
        });
    }

    /// <summary>Reads until the backend closes its side (the answer was read already).</summary>
    private static async Task ReceiveEndAsync(Socket connection)
    {
        using var deadline = new CancellationTokenSource(Timeout);
        var buffer = new byte[256];
        while (await connection.ReceiveAsync(buffer, SocketFlags.None, deadline.Token) > 0)
        {
        }
    }

    /// <summary>A TcpExt counter of a namespace's /proc/net/netstat.</summary>
    private static long TcpExt(string netns, string name)
    {
        var lines = IpCommand.InNamespace(netns, "cat", "/proc/net/netstat").Split('\n');
        for (var i = 0; i + 1 < lines.Length; i++)
        {
            if (!lines[i].StartsWith("TcpExt:", StringComparison.Ordinal))
                continue;
            var names = lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var values = lines[i + 1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var index = Array.IndexOf(names, name);
            return index > 0 ? long.Parse(values[index], CultureInfo.InvariantCulture) : throw new InvalidOperationException($"no TcpExt {name} in {netns}");
        }
        throw new InvalidOperationException($"no TcpExt line in {netns}'s /proc/net/netstat");
    }
}
