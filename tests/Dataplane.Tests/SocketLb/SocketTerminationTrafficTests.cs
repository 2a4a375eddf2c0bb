using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.SocketLb;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tests.Support;

namespace ProxyReplacement.Dataplane.Tests.SocketLb;

/// <summary>
/// Socket termination with real sockets: clients in the client pod's namespace, inside the hooks' test cgroup,
/// connect through the hooks to a Service whose only backend is A; A then leaves the Service (its ordinal now holds
/// B, as the Syncer writes it) and the terminator runs with (frontend, A) doomed, in the namespaces it finds through
/// the cgroup's processes. A client blocked in recv() on a socket through the Service wakes with ECONNABORTED and
/// its next connection reaches B; a socket connected to A's address directly, and one connected to A through
/// another Service that keeps it, are left alone.
/// </summary>
[Category("Privileged")]
[NonParallelizable]
public sealed class SocketTerminationTrafficTests
{
    private static readonly IPAddress Vip = IPAddress.Parse("10.96.0.10");
    private static readonly IPAddress OtherVip = IPAddress.Parse("10.96.0.20");
    private const ushort TcpPort = 80;
    private const ushort UdpPort = 53;
    private const ushort BackendPort = 8080;
    private const double HoldSeconds = 10;

    private SocketLbNode _node = null!;
    private SocketTerminator? _terminator;
    private readonly List<IDisposable> _servers = [];
    private readonly List<HeldSocketClient> _clients = [];
    private TcpEchoServer _tcpA = null!, _tcpB = null!;
    private UdpEchoServer _udpA = null!, _udpB = null!;

    private CoreDataplane Core => _node.Core;
    private PodInterface A => _node.Topology.Backends[0];
    private PodInterface B => _node.Topology.Backends[1];

    [SetUp]
    public void SetUp()
    {
        Privileged.Require();
        _node = SocketLbNode.Create(backendCount: 2);
        Core.SetSocketLbMode(SocketLbMode.Enabled);
        Core.Backends.Update(new NatBackendKey(1, 0), new NatBackendValue4(A.Address, BackendPort));
        Core.Frontends.Update(new NatFrontendKey4(Vip, TcpPort, L4Protocol.Tcp), new NatFrontendValue(1, backendCount: 1));
        Core.Backends.Update(new NatBackendKey(2, 0), new NatBackendValue4(A.Address, BackendPort));
        Core.Frontends.Update(new NatFrontendKey4(Vip, UdpPort, L4Protocol.Udp), new NatFrontendValue(2, backendCount: 1));
        // Another Service with the same backend, which keeps it.
        Core.Backends.Update(new NatBackendKey(3, 0), new NatBackendValue4(A.Address, BackendPort));
        Core.Frontends.Update(new NatFrontendKey4(OtherVip, TcpPort, L4Protocol.Tcp), new NatFrontendValue(3, backendCount: 1));
        foreach (var pod in new[] { A, B })
        {
            var tcp = TcpEchoServer.Start(pod.Namespace, new IPEndPoint(pod.Address, BackendPort));
            _servers.Add(tcp);
            var udp = UdpEchoServer.Start(pod.Namespace, new IPEndPoint(pod.Address, BackendPort));
            _servers.Add(udp);
            (_tcpA, _udpA) = pod == A ? (tcp, udp) : (_tcpA, _udpA);
            (_tcpB, _udpB) = pod == B ? (tcp, udp) : (_tcpB, _udpB);
        }
    }

    [TearDown]
    public void TearDown()
    {
        foreach (var client in _clients)
            client.Dispose();
        _clients.Clear();
        _terminator?.Dispose();
        _terminator = null;
        foreach (var server in _servers)
            server.Dispose();
        _servers.Clear();
        _node?.Dispose();
    }

    private HeldSocketClient Hold(string protocol, IPAddress host, ushort port, string text, double seconds = HoldSeconds)
    {
        var client = HeldSocketClient.Start(_node.Cgroup.Path, _node.Topology.Client.Namespace, protocol, host.ToString(), port, text, seconds);
        _clients.Add(client);
        return client;
    }

    /// <summary>A leaves both Services of VIP (its ordinal now holds B); the doomed pairs the daemon would compute.</summary>
    private static SocketDoomedKey4[] RemoveA(CoreDataplane core, PodInterface a, PodInterface b)
    {
        core.Backends.Update(new NatBackendKey(1, 0), new NatBackendValue4(b.Address, BackendPort));
        core.Backends.Update(new NatBackendKey(2, 0), new NatBackendValue4(b.Address, BackendPort));
        return
        [
            new SocketDoomedKey4(new NatFrontendKey4(Vip, TcpPort, L4Protocol.Tcp), new NatBackendValue4(a.Address, BackendPort)),
            new SocketDoomedKey4(new NatFrontendKey4(Vip, UdpPort, L4Protocol.Udp), new NatBackendValue4(a.Address, BackendPort)),
        ];
    }

    private SocketTerminationRun Terminate(SocketDoomedKey4[] doomed)
    {
        var scan = CgroupNamespaces.Find(_node.Cgroup.Path);
        var run = _terminator!.Terminate(doomed, scan.Namespaces);
        TestContext.Out.WriteLine($"{scan.Processes} processes in {scan.Namespaces.Count} namespaces; run in {run.Elapsed.TotalMilliseconds:F1} ms: " +
                                  string.Join("; ", run.Sockets) + (run.Skipped.Count > 0 ? "; skipped " + string.Join(", ", run.Skipped) : ""));
        return run;
    }

    private string ClientNamespaceIdentity() =>
        NetworkNamespace.Run(_node.Topology.Client.Namespace, NetworkNamespace.CurrentIdentity);

    [TestCase("tcp", TcpPort)]
    [TestCase("udp", UdpPort)]
    public void A_socket_through_the_service_is_aborted_and_its_next_connection_reaches_the_remaining_backend(string protocol, int port)
    {
        _terminator = SocketTerminator.Load(Core);
        var client = Hold(protocol, Vip, (ushort)port, "first");
        var servedBy = protocol == "tcp" ? _tcpA.Peers : _udpA.Peers;
        Assert.That(client.Connected.Reply, Is.EqualTo("first"), client.Connected.ToString());
        Assert.That(client.Connected.Peer, Is.EqualTo(new IPEndPoint(Vip, port)), "translated by the hooks: getpeername() is the VIP");
        Assert.That(servedBy, Does.Contain(client.Connected.Local), "A served the first exchange");

        var run = Terminate(RemoveA(Core, A, B));
        var woke = client.Next();
        var fresh = client.Next();

        Assert.Multiple(() =>
        {
            Assert.That(_terminator.CanDestroy, Is.True, _terminator.Variant.ToString());
            Assert.That(woke.Error, Is.EqualTo("ECONNABORTED"), woke.ToString());
            Assert.That(woke.Seconds, Is.LessThan(2), "the blocked recv() woke at once");
            Assert.That(run.Sockets, Has.Count.EqualTo(1), string.Join("; ", run.Sockets));
            var record = run.Sockets.Single();
            Assert.That(record.Destroyed, Is.True, record.ToString());
            Assert.That(record.Local, Is.EqualTo(client.Connected.Local));
            Assert.That(record.Peer, Is.EqualTo(new IPEndPoint(A.Address, BackendPort)));
            Assert.That(record.Frontend, Is.EqualTo(new NatFrontendKey4(Vip, (ushort)port, protocol == "tcp" ? L4Protocol.Tcp : L4Protocol.Udp)));
            Assert.That(run.Namespaces, Does.Contain(ClientNamespaceIdentity()), "the client pod's namespace, found through the cgroup's processes");
            Assert.That(run.Skipped, Is.Empty);
            Assert.That(fresh.Reply, Is.EqualTo("first anew"), fresh.ToString());
            Assert.That(fresh.Peer, Is.EqualTo(new IPEndPoint(Vip, port)));
            Assert.That(protocol == "tcp" ? _tcpB.Peers : _udpB.Peers, Does.Contain(fresh.Local), "the new connection went to B");
            Assert.That(_terminator.Doomed.ReadAll(), Is.Empty, "pr_sk_doomed4 is emptied after the run");
        });
    }

    [Test]
    public void Sockets_to_the_pod_address_directly_and_through_a_service_that_keeps_the_backend_are_left_alone()
    {
        _terminator = SocketTerminator.Load(Core);
        var viaService = Hold("tcp", Vip, TcpPort, "service");
        var direct = Hold("tcp", A.Address, BackendPort, "direct", seconds: 2);
        var directUdp = Hold("udp", A.Address, BackendPort, "direct udp", seconds: 2);
        var viaOther = Hold("tcp", OtherVip, TcpPort, "other service", seconds: 2);
        Assert.That(new[] { viaService, direct, directUdp, viaOther }.Select(c => c.Connected.Error), Is.All.Null,
            string.Join("\n", new[] { viaService, direct, directUdp, viaOther }.Select(c => c.Connected)));

        var run = Terminate(RemoveA(Core, A, B));
        var results = new[] { viaService, direct, directUdp, viaOther }.Select(c => c.Next()).ToArray();

        Assert.Multiple(() =>
        {
            Assert.That(results[0].Error, Is.EqualTo("ECONNABORTED"), results[0].ToString());
            Assert.That((results[1].Held, results[1].ThenReply), Is.EqualTo((true, "direct again")), "a direct connection: " + results[1]);
            Assert.That((results[2].Held, results[2].ThenReply), Is.EqualTo((true, "direct udp again")), "a direct connected UDP socket: " + results[2]);
            Assert.That((results[3].Held, results[3].ThenReply), Is.EqualTo((true, "other service again")),
                "through a Service that still has A: " + results[3]);
            Assert.That(run.Sockets.Select(s => s.Local), Is.EqualTo(new[] { viaService.Connected.Local }), string.Join("; ", run.Sockets));
        });
    }

    [Test]
    public void A_socket_outside_the_cgroups_namespaces_is_not_walked_and_nothing_runs_without_targets()
    {
        _terminator = SocketTerminator.Load(Core);
        var client = Hold("tcp", Vip, TcpPort, "first", seconds: 2);
        var doomed = RemoveA(Core, A, B);

        var noTargets = _terminator.Terminate([], CgroupNamespaces.Find(_node.Cgroup.Path).Namespaces);
        var otherNamespace = _terminator.Terminate(doomed, [new CgroupNamespace(NetworkNamespace.Run(B.Namespace, NetworkNamespace.CurrentIdentity), [])]);
        var held = client.Next();

        Assert.Multiple(() =>
        {
            Assert.That(noTargets.Sockets, Is.Empty);
            Assert.That(noTargets.Namespaces, Is.Empty, "no targets: no namespace entered");
            Assert.That(otherNamespace.Sockets, Is.Empty);
            Assert.That(otherNamespace.Skipped.Select(s => s.Reason), Is.EqualTo(new[] { "no process of the cgroup is in it any more" }));
            Assert.That(held.Held, Is.True, held.ToString());
        });
    }

    /// <summary>
    /// The degraded path, on this kernel: the default build is loaded with its kfunc renamed to one no kernel has
    /// (bpf-c/test/sock_destroy_no_kfunc.bpf.c), so libbpf fails it exactly as a kernel before 6.5 fails the real one,
    /// and the terminator falls back to the compat build: it finds the socket and reports it, and destroys nothing.
    /// </summary>
    [Test]
    public void Without_the_kfunc_the_compat_build_finds_the_sockets_and_destroys_none()
    {
        const string absent = "pr_probe_absent_sock_destroy";
        _terminator = SocketTerminator.Load(Core, DataplaneVariant.Auto,
            v => v == DataplaneVariant.Fast
                ? TestObjects.Read("sock_destroy_no_kfunc.bpf.o")
                : EmbeddedObjects.Read(DataplaneVariants.ObjectFile(SocketTerminator.ObjectFile, v)),
            error => VariantProbe.WhySocketDestroyCompat(error, absent));
        var client = Hold("tcp", Vip, TcpPort, "first", seconds: 2);

        var run = Terminate(RemoveA(Core, A, B));
        var held = client.Next();

        Assert.Multiple(() =>
        {
            Assert.That(_terminator.Variant.Variant, Is.EqualTo(DataplaneVariant.Compat));
            Assert.That(_terminator.Variant.Reason, Does.Contain($"the kernel has no kfunc {absent}"));
            Assert.That(_terminator.CanDestroy, Is.False);
            Assert.That(run.Sockets.Select(s => (s.Local, s.Result)), Is.EqualTo(new[] { (client.Connected.Local, SocketDestroyedRecord4.Unsupported) }));
            Assert.That(run.Destroyed, Is.Zero);
            Assert.That((held.Held, held.ThenReply), Is.EqualTo((true, "first again")), "the socket stays connected to A: " + held);
        });
    }
}
