using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.Tc;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tests.Support;
using TcApi = ProxyReplacement.Dataplane.Tc.Tc;

namespace ProxyReplacement.Dataplane.Tests.Tc;

/// <summary>
/// A daemon restart that switches builds (a kernel upgrade that makes the default build loadable, or a forced
/// variant): the new load adopts every pinned map, its program replaces the old one in the same TC filter slot,
/// and a TCP connection opened through the VIP under the old build goes on under the new one.
/// </summary>
[TestFixture]
[Category("Privileged")]
public sealed class VariantSwitchTrafficTests
{
    private static readonly IPAddress Vip = IPAddress.Parse("10.96.0.10");
    private const ushort ServicePort = 80;
    private const ushort BackendPort = 8080;

    private BpffsMount? _bpffs;
    private NodeTopology? _topology;
    private readonly List<IDisposable> _cleanup = [];

    [SetUp]
    public void SetUp()
    {
        Privileged.Require();
        _bpffs = BpffsMount.Create();
        _topology = NodeTopology.Create(backendCount: 1);
    }

    [TearDown]
    public void TearDown()
    {
        for (var i = _cleanup.Count - 1; i >= 0; i--)
            _cleanup[i].Dispose();
        _cleanup.Clear();
        _topology?.Dispose();
        _bpffs?.Dispose();
    }

    [TestCase(DataplaneVariant.Fast, DataplaneVariant.Compat)]
    [TestCase(DataplaneVariant.Compat, DataplaneVariant.Fast)]
    public async Task A_restart_with_the_other_build_adopts_the_pins_and_keeps_the_connection(DataplaneVariant before, DataplaneVariant after)
    {
        var topology = _topology!;
        var pods = new[] { topology.Client, topology.Backends[0] };
        var options = new DataplaneOptions { PinRoot = Path.Combine(_bpffs!.Path, "pr") };
        using var server = TcpEchoServer.Start(pods[1].Namespace, new IPEndPoint(pods[1].Address, BackendPort));

        var first = TestVariants.LoadCore(before, options);
        _cleanup.Add(first);
        first.Backends.Update(new NatBackendKey(1, 0), new NatBackendValue4(pods[1].Address, BackendPort));
        first.Frontends.Update(new NatFrontendKey4(Vip, ServicePort, L4Protocol.Tcp), new NatFrontendValue(1, backendCount: 1));
        _cleanup.AddRange(Attach(topology, pods, first));
        using var client = await NetnsSockets.ConnectTcpAsync(topology.Client.Namespace, new IPEndPoint(Vip, ServicePort), TimeSpan.FromSeconds(5));
        var echoBefore = await NetnsSockets.SendLineAndReadEchoAsync(client, "under the first build");
        var firstProgram = first.FromWorkload.Id;
        var mapIds = (first.Frontends.Id, first.Conntrack.Id);
        first.Dispose(); // the daemon stops: fds closed, filters and pins stay

        var second = TestVariants.LoadCore(after, options);
        _cleanup.Add(second);
        var pinned = Directory.EnumerateFileSystemEntries(options.PinRoot).Select(Path.GetFileName).ToList();
        var established = second.ReadCounters().GetValueOrDefault(CounterReason.NatEstablished);
        _cleanup.AddRange(Attach(topology, pods, second));
        var slots = NetworkNamespace.Run(topology.NodeNamespace,
            () => pods.Select(pod => TcApi.QueryProgramId(pod.HostIfIndex, TcDirection.Ingress)).ToList());
        var filters = pods.Select(pod => TcFilters.BpfCount(topology.NodeNamespace, pod.HostInterface)).ToList();
        var echoAfter = await NetnsSockets.SendLineAndReadEchoAsync(client, "under the second build");

        Assert.Multiple(() =>
        {
            Assert.That(echoBefore, Is.EqualTo("under the first build"));
            Assert.That(echoAfter, Is.EqualTo("under the second build"), "the connection survived the switch");
            Assert.That(second.Variant.Variant, Is.EqualTo(after));
            Assert.That(second.AdoptedMaps, Is.EquivalentTo(pinned).And.Contains(CoreObjectNames.Conntrack), "every pinned map adopted");
            Assert.That((second.Frontends.Id, second.Conntrack.Id), Is.EqualTo(mapIds), "the same kernel maps");
            Assert.That(second.FromWorkload.Id, Is.Not.EqualTo(firstProgram));
            Assert.That(slots, Is.All.EqualTo(second.FromWorkload.Id), "the new program in the old filter slot");
            Assert.That(filters, Is.All.EqualTo(1), "replaced in place, not added beside");
            Assert.That(second.ReadCounters().GetValueOrDefault(CounterReason.NatEstablished), Is.GreaterThan(established),
                "the new program served the flow from the adopted conntrack entry");
            Assert.That(server.Peers, Has.Count.EqualTo(1), "one connection throughout");
        });
    }

    private static List<TcAttachment> Attach(NodeTopology topology, IEnumerable<PodInterface> pods, CoreDataplane core) =>
        NetworkNamespace.Run(topology.NodeNamespace,
            () => pods.Select(pod => TcApi.Attach(pod.HostIfIndex, TcDirection.Ingress, core.FromWorkload)).ToList());
}
