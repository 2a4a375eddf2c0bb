using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Tests.Golden;
using static ProxyReplacement.Dataplane.Tests.Golden.Topology;

namespace ProxyReplacement.Dataplane.Tests.SocketLb;

/// <summary>
/// The socket hooks' decisions (bpf-c/include/pr_sock.h, the code sock_lb.bpf.c runs) through the
/// test shim, on the core maps the TC path uses: mode, translation, refusal, reverse translation and
/// ClientIP affinity. Expected values follow from the rules in the header and bpf-c/README.md.
/// </summary>
[TestFixture, Category("Privileged")]
public sealed class SocketDecisionTests
{
    private const ulong Cookie = 4242;
    private const ulong OtherCookie = 4243;
    // Network namespace cookies as bpf_get_netns_cookie() gives them: the host's, and a pod's.
    private const ulong HostNetns = 5001;
    private const ulong PodNetns = 5002;
    private static readonly IPEndPoint Vip = new(TcpVip.Address, TcpVip.Port);
    private static readonly IPEndPoint UdpServiceVip = new(UdpVip.Address, UdpVip.Port);
    private static readonly IPEndPoint Backend = new(BackendA.Address, BackendA.Port);
    private static readonly IPEndPoint UdpBackend = new(UdpBackendA.Address, UdpBackendA.Port);

    private GoldenDataplane _dp = null!;
    private SocketShim _shim = null!;

    [OneTimeSetUp]
    public void Load()
    {
        _dp = GoldenDataplane.Load();
        _shim = SocketShim.Load(_dp.Dataplane);
    }

    [OneTimeTearDown]
    public void Unload()
    {
        _shim?.Dispose();
        _dp?.Dispose();
    }

    [SetUp]
    public void Reset()
    {
        _dp.Reset(); // pr_sk_rev4 included
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);
        _dp.AddService(UdpVip, L4Protocol.Udp, [UdpBackendA], serviceId: 8);
        _dp.Dataplane.ServiceCidrs.Update(new ServiceCidrKey4(IPAddress.Parse("10.96.0.0"), 12), default);
    }

    private void Mode(SocketLbMode mode) => _dp.Dataplane.SetSocketLbMode(mode);

    [Test]
    public void Disabled_mode_leaves_every_socket_to_the_tc_path()
    {
        Mode(SocketLbMode.Disabled);
        var connect = _shim.Run(SocketCall.Connect, Cookie, Vip, L4Protocol.Tcp);
        var send = _shim.Run(SocketCall.Sendmsg, Cookie, UdpServiceVip, L4Protocol.Udp);

        Assert.Multiple(() =>
        {
            Assert.That(connect, Is.EqualTo(new SocketCallResult(SocketVerdict.Pass, Vip)));
            Assert.That(send, Is.EqualTo(new SocketCallResult(SocketVerdict.Pass, UdpServiceVip)));
            Assert.That(_dp.Counters(), Is.Empty, "a disabled hook does not even look up the frontend");
            Assert.That(_dp.Dataplane.SocketReverse.ReadAll(), Is.Empty);
        });
    }

    [Test]
    public void Tcp_mode_translates_tcp_connect_and_remembers_the_vip_for_the_socket()
    {
        Mode(SocketLbMode.Tcp);
        var connect = _shim.Run(SocketCall.Connect, Cookie, Vip, L4Protocol.Tcp);

        Assert.Multiple(() =>
        {
            Assert.That(connect, Is.EqualTo(new SocketCallResult(SocketVerdict.Translated, Backend)));
            Assert.That(_dp.Dataplane.SocketReverse.ReadAll().ToList(), Is.EqualTo(new[]
            {
                new KeyValuePair<SocketReverseKey4, SocketReverseValue4>(
                    new SocketReverseKey4(Cookie, Backend.Address, (ushort)Backend.Port), new SocketReverseValue4(Vip.Address, (ushort)Vip.Port)),
            }));
            GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.SockConnect, 1));
            Assert.That(_dp.Dataplane.Conntrack.ReadAll(), Is.Empty, "the socket path creates no conntrack state");
        });
    }

    [Test]
    public void Tcp_mode_leaves_udp_to_the_tc_path_and_enabled_mode_translates_it()
    {
        Mode(SocketLbMode.Tcp);
        var inTcpMode = _shim.Run(SocketCall.Sendmsg, Cookie, UdpServiceVip, L4Protocol.Udp);
        var connectedInTcpMode = _shim.Run(SocketCall.Connect, Cookie, UdpServiceVip, L4Protocol.Udp);
        Assert.That(_dp.Counters(), Is.Empty);

        Mode(SocketLbMode.Enabled);
        var send = _shim.Run(SocketCall.Sendmsg, Cookie, UdpServiceVip, L4Protocol.Udp);
        var connected = _shim.Run(SocketCall.Connect, OtherCookie, UdpServiceVip, L4Protocol.Udp);
        var tcp = _shim.Run(SocketCall.Connect, Cookie, Vip, L4Protocol.Tcp);

        Assert.Multiple(() =>
        {
            Assert.That(inTcpMode, Is.EqualTo(new SocketCallResult(SocketVerdict.Pass, UdpServiceVip)));
            Assert.That(connectedInTcpMode, Is.EqualTo(new SocketCallResult(SocketVerdict.Pass, UdpServiceVip)));
            Assert.That(send, Is.EqualTo(new SocketCallResult(SocketVerdict.Translated, UdpBackend)));
            Assert.That(connected, Is.EqualTo(new SocketCallResult(SocketVerdict.Translated, UdpBackend)));
            Assert.That(tcp, Is.EqualTo(new SocketCallResult(SocketVerdict.Translated, Backend)));
            GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.SockSendmsg, 1), (CounterReason.SockConnect, 2));
        });
    }

    [Test]
    public void Replies_and_the_peer_of_a_translated_socket_appear_as_the_vip_only_for_that_socket()
    {
        Mode(SocketLbMode.Enabled);
        _shim.Run(SocketCall.Sendmsg, Cookie, UdpServiceVip, L4Protocol.Udp);
        _dp.Dataplane.ResetCounters();

        var reply = _shim.Run(SocketCall.Recvmsg, Cookie, UdpBackend, L4Protocol.Udp);
        var peer = _shim.Run(SocketCall.Getpeername, Cookie, UdpBackend, L4Protocol.Udp);
        var otherSocket = _shim.Run(SocketCall.Recvmsg, OtherCookie, UdpBackend, L4Protocol.Udp);
        var otherSender = _shim.Run(SocketCall.Recvmsg, Cookie, new IPEndPoint(UdpBackend.Address, 9999), L4Protocol.Udp);

        Assert.Multiple(() =>
        {
            Assert.That(reply, Is.EqualTo(new SocketCallResult(SocketVerdict.Translated, UdpServiceVip)));
            Assert.That(peer, Is.EqualTo(new SocketCallResult(SocketVerdict.Translated, UdpServiceVip)));
            Assert.That(otherSocket, Is.EqualTo(new SocketCallResult(SocketVerdict.Pass, UdpBackend)), "another socket talking to the pod directly");
            Assert.That(otherSender.Verdict, Is.EqualTo(SocketVerdict.Pass), "another port of the backend pod is not the Service");
            GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.SockRecvmsgReversed, 1), (CounterReason.SockPeernameReversed, 1));
        });
    }

    [Test]
    public void Reverse_translation_goes_on_after_the_mode_is_switched_off()
    {
        Mode(SocketLbMode.Tcp);
        _shim.Run(SocketCall.Connect, Cookie, Vip, L4Protocol.Tcp);
        Mode(SocketLbMode.Disabled);

        var peer = _shim.Run(SocketCall.Getpeername, Cookie, Backend, L4Protocol.Tcp);
        var newConnect = _shim.Run(SocketCall.Connect, OtherCookie, Vip, L4Protocol.Tcp);

        Assert.Multiple(() =>
        {
            Assert.That(peer, Is.EqualTo(new SocketCallResult(SocketVerdict.Translated, Vip)));
            Assert.That(newConnect, Is.EqualTo(new SocketCallResult(SocketVerdict.Pass, Vip)));
        });
    }

    [Test]
    public void A_service_without_backends_is_refused()
    {
        Mode(SocketLbMode.Enabled);
        _dp.Dataplane.Frontends.Update(FrontendKey(TcpVip, L4Protocol.Tcp), new NatFrontendValue(ServiceId, backendCount: 0));
        _dp.Dataplane.Frontends.Update(FrontendKey(UdpVip, L4Protocol.Udp), new NatFrontendValue(8, backendCount: 0));

        var connect = _shim.Run(SocketCall.Connect, Cookie, Vip, L4Protocol.Tcp);
        var send = _shim.Run(SocketCall.Sendmsg, Cookie, UdpServiceVip, L4Protocol.Udp);

        Assert.Multiple(() =>
        {
            Assert.That(connect.Verdict, Is.EqualTo(SocketVerdict.Refuse));
            Assert.That(send.Verdict, Is.EqualTo(SocketVerdict.Refuse));
            GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.SockRefuseNoBackend, 2));
            Assert.That(_dp.Dataplane.SocketReverse.ReadAll(), Is.Empty);
        });
    }

    [Test]
    public void An_unclaimed_service_cidr_address_is_refused_and_other_addresses_pass()
    {
        Mode(SocketLbMode.Tcp);
        var unclaimedPort = _shim.Run(SocketCall.Connect, Cookie, new IPEndPoint(Vip.Address, 81), L4Protocol.Tcp);
        var unclaimedAddress = _shim.Run(SocketCall.Connect, Cookie, new IPEndPoint(IPAddress.Parse("10.100.3.4"), 80), L4Protocol.Tcp);
        var outside = _shim.Run(SocketCall.Connect, Cookie, new IPEndPoint(Unrelated.Address, Unrelated.Port), L4Protocol.Tcp);

        Assert.Multiple(() =>
        {
            Assert.That(unclaimedPort.Verdict, Is.EqualTo(SocketVerdict.Refuse));
            Assert.That(unclaimedAddress.Verdict, Is.EqualTo(SocketVerdict.Refuse));
            Assert.That(outside, Is.EqualTo(new SocketCallResult(SocketVerdict.Pass, new IPEndPoint(Unrelated.Address, Unrelated.Port))));
            GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.SockRefuseUnknownService, 2), (CounterReason.SockPassNoService, 1));
        });
    }

    [Test]
    public void A_missing_backend_entry_is_refused_not_sent_to_a_zero_address()
    {
        Mode(SocketLbMode.Tcp);
        _dp.Dataplane.Backends.Delete(new NatBackendKey(ServiceId, 0));

        var connect = _shim.Run(SocketCall.Connect, Cookie, Vip, L4Protocol.Tcp);

        Assert.Multiple(() =>
        {
            Assert.That(connect.Verdict, Is.EqualTo(SocketVerdict.Refuse));
            GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.SockRefuseBackendMissing, 1));
        });
    }

    [Test]
    public void Affinity_with_an_unbound_socket_is_left_to_the_tc_path()
    {
        Mode(SocketLbMode.Tcp);
        _dp.AddService(TcpVip, L4Protocol.Tcp, ManyBackends(4), flags: FrontendFlags.Affinity, affinityTimeoutSeconds: 60);

        var connect = _shim.Run(SocketCall.Connect, Cookie, Vip, L4Protocol.Tcp, source: null);

        Assert.Multiple(() =>
        {
            Assert.That(connect, Is.EqualTo(new SocketCallResult(SocketVerdict.Pass, Vip)));
            Assert.That(_dp.Dataplane.Affinity.ReadAll(), Is.Empty, "no entry keyed by an address the socket does not have");
            GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.SockPassAffinity, 1));
        });
    }

    [Test]
    public void Affinity_of_a_bound_socket_is_kept_per_client_address_in_the_shared_affinity_map()
    {
        Mode(SocketLbMode.Tcp);
        var backends = ManyBackends(8);
        _dp.AddService(TcpVip, L4Protocol.Tcp, backends, flags: FrontendFlags.Affinity, affinityTimeoutSeconds: 60);
        var frontend = FrontendKey(TcpVip, L4Protocol.Tcp);

        var first = _shim.Run(SocketCall.Connect, 1, Vip, L4Protocol.Tcp, source: Client.Address);
        var again = Enumerable.Range(2, 10).Select(c => _shim.Run(SocketCall.Connect, (ulong)c, Vip, L4Protocol.Tcp, source: Client.Address)).ToList();
        var other = _shim.Run(SocketCall.Connect, 20, Vip, L4Protocol.Tcp, source: OtherClient.Address);

        Assert.That(_dp.Dataplane.Affinity.TryLookup(new AffinityKey4(frontend, Client.Address), out var entry), Is.True, "entry keyed by the client address");
        Assert.That(_dp.Dataplane.Affinity.TryLookup(new AffinityKey4(frontend, OtherClient.Address), out var otherEntry), Is.True, "a second client has its own entry");
        Assert.Multiple(() =>
        {
            Assert.That(first.Verdict, Is.EqualTo(SocketVerdict.Translated));
            Assert.That(again.Select(r => r.Address), Is.All.EqualTo(first.Address), "every later connect of the client goes to its backend");
            Assert.That(new IPEndPoint(entry.BackendAddress, entry.BackendPort), Is.EqualTo(first.Address));
            Assert.That(new IPEndPoint(otherEntry.BackendAddress, otherEntry.BackendPort), Is.EqualTo(other.Address));
            GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.SockConnect, 12), (CounterReason.SockAffinityHit, 10));
        });
    }

    private NatFrontendKey4 AffinityService(int backendCount)
    {
        _dp.AddService(TcpVip, L4Protocol.Tcp, ManyBackends(backendCount), flags: FrontendFlags.Affinity, affinityTimeoutSeconds: 60);
        return FrontendKey(TcpVip, L4Protocol.Tcp);
    }

    private static IPEndPoint BackendOf(AffinityValue4 entry) => new(entry.BackendAddress, entry.BackendPort);

    [Test]
    public void An_unbound_host_netns_socket_to_an_affinity_service_is_balanced_at_the_socket_with_the_host_identity()
    {
        Mode(SocketLbMode.Tcp);
        var frontend = AffinityService(8);
        _dp.Dataplane.SetHostNetnsCookie(HostNetns);

        var connects = Enumerable.Range(1, 12)
            .Select(c => _shim.Run(SocketCall.Connect, (ulong)c, Vip, L4Protocol.Tcp, source: null, netnsCookie: HostNetns)).ToList();

        var entries = _dp.Dataplane.Affinity.ReadAll().ToList();
        Assert.That(entries.Select(e => e.Key), Is.EqualTo(new[] { new AffinityKey4(frontend, AffinityKey4.HostClient) }),
            "one entry, keyed by the host identity 0.0.0.0");
        Assert.Multiple(() =>
        {
            Assert.That(connects.Select(r => r.Verdict), Is.All.EqualTo(SocketVerdict.Translated));
            Assert.That(connects.Select(r => r.Address), Is.All.EqualTo(BackendOf(entries[0].Value)), "every connect of the host goes to its backend");
            Assert.That(entries[0].Key.IsHostClient, Is.True);
            Assert.That(_dp.Dataplane.SocketReverse.ReadAll().Select(e => e.Value), Is.All.EqualTo(new SocketReverseValue4(Vip.Address, (ushort)Vip.Port)),
                "getpeername()/recvmsg() of each socket still report the VIP");
            GoldenDataplane.AssertCounters(_dp.Counters(),
                (CounterReason.SockConnect, 12), (CounterReason.SockAffinityHost, 12), (CounterReason.SockAffinityHit, 11));
        });
    }

    [Test]
    public void Bound_and_unbound_host_netns_sockets_share_one_affinity_entry()
    {
        Mode(SocketLbMode.Tcp);
        var frontend = AffinityService(8);
        _dp.Dataplane.SetHostNetnsCookie(HostNetns);
        var nodeAddress = IPAddress.Parse("192.168.50.2");

        var unbound = _shim.Run(SocketCall.Connect, 1, Vip, L4Protocol.Tcp, source: null, netnsCookie: HostNetns);
        var bound = Enumerable.Range(2, 6)
            .Select(c => _shim.Run(SocketCall.Connect, (ulong)c, Vip, L4Protocol.Tcp, source: nodeAddress, netnsCookie: HostNetns)).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(bound.Select(r => r.Address), Is.All.EqualTo(unbound.Address), "kube-proxy sees one node: one backend");
            Assert.That(_dp.Dataplane.Affinity.ReadAll().Select(e => e.Key), Is.EqualTo(new[] { new AffinityKey4(frontend, AffinityKey4.HostClient) }),
                "no entry keyed by the bound node address");
        });
    }

    [Test]
    public void Unconnected_udp_from_the_host_netns_keeps_affinity_per_datagram()
    {
        Mode(SocketLbMode.Enabled);
        var backends = ManyBackends(8).Select(b => b with { Port = 5353 }).ToList();
        _dp.AddService(UdpVip, L4Protocol.Udp, backends, serviceId: 8, flags: FrontendFlags.Affinity, affinityTimeoutSeconds: 60);
        _dp.Dataplane.SetHostNetnsCookie(HostNetns);

        var sends = Enumerable.Range(0, 8)
            .Select(_ => _shim.Run(SocketCall.Sendmsg, Cookie, UdpServiceVip, L4Protocol.Udp, netnsCookie: HostNetns)).ToList();

        Assert.That(_dp.Dataplane.Affinity.TryLookup(new AffinityKey4(FrontendKey(UdpVip, L4Protocol.Udp), AffinityKey4.HostClient), out var entry), Is.True);
        Assert.Multiple(() =>
        {
            Assert.That(sends.Select(r => r.Address), Is.All.EqualTo(BackendOf(entry)));
            GoldenDataplane.AssertCounters(_dp.Counters(),
                (CounterReason.SockSendmsg, 8), (CounterReason.SockAffinityHost, 8), (CounterReason.SockAffinityHit, 7));
        });
    }

    [Test]
    public void Pod_sockets_keep_their_own_affinity_when_the_host_netns_is_known()
    {
        Mode(SocketLbMode.Tcp);
        var frontend = AffinityService(8);
        _dp.Dataplane.SetHostNetnsCookie(HostNetns);

        var unboundPod = _shim.Run(SocketCall.Connect, 1, Vip, L4Protocol.Tcp, source: null, netnsCookie: PodNetns);
        var boundPod = _shim.Run(SocketCall.Connect, 2, Vip, L4Protocol.Tcp, source: Client.Address, netnsCookie: PodNetns);
        var host = _shim.Run(SocketCall.Connect, 3, Vip, L4Protocol.Tcp, netnsCookie: HostNetns);

        Assert.That(_dp.Dataplane.Affinity.TryLookup(new AffinityKey4(frontend, Client.Address), out var podEntry), Is.True, "the bound pod socket: keyed by its address");
        Assert.That(_dp.Dataplane.Affinity.TryLookup(new AffinityKey4(frontend, AffinityKey4.HostClient), out var hostEntry), Is.True);
        Assert.Multiple(() =>
        {
            Assert.That(unboundPod, Is.EqualTo(new SocketCallResult(SocketVerdict.Pass, Vip)), "an unbound pod socket is still the TC path's");
            Assert.That(boundPod.Address, Is.EqualTo(BackendOf(podEntry)));
            Assert.That(host.Address, Is.EqualTo(BackendOf(hostEntry)));
            Assert.That(_dp.Dataplane.Affinity.ReadAll().Count(), Is.EqualTo(2), "the pod and the host are two clients");
            GoldenDataplane.AssertCounters(_dp.Counters(),
                (CounterReason.SockPassAffinity, 1), (CounterReason.SockConnect, 2), (CounterReason.SockAffinityHost, 1));
        });
    }

    [Test]
    public void Without_a_host_netns_recorded_no_socket_counts_as_the_hosts()
    {
        Mode(SocketLbMode.Tcp);
        AffinityService(4);
        // pr_host_netns holds 0 (Reset): a request that carries netns cookie 0 must not match it.
        var zero = _shim.Run(SocketCall.Connect, 1, Vip, L4Protocol.Tcp, netnsCookie: 0);
        var some = _shim.Run(SocketCall.Connect, 2, Vip, L4Protocol.Tcp, netnsCookie: HostNetns);

        Assert.Multiple(() =>
        {
            Assert.That(_dp.Dataplane.ReadHostNetnsCookie(), Is.Zero);
            Assert.That(zero, Is.EqualTo(new SocketCallResult(SocketVerdict.Pass, Vip)));
            Assert.That(some, Is.EqualTo(new SocketCallResult(SocketVerdict.Pass, Vip)));
            Assert.That(_dp.Dataplane.Affinity.ReadAll(), Is.Empty);
            GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.SockPassAffinity, 2));
        });
    }

    [Test]
    public void A_host_netns_socket_to_a_service_without_affinity_is_translated_as_before()
    {
        Mode(SocketLbMode.Tcp);
        _dp.Dataplane.SetHostNetnsCookie(HostNetns);

        var connect = _shim.Run(SocketCall.Connect, Cookie, Vip, L4Protocol.Tcp, netnsCookie: HostNetns);

        Assert.Multiple(() =>
        {
            Assert.That(connect, Is.EqualTo(new SocketCallResult(SocketVerdict.Translated, Backend)));
            Assert.That(_dp.Dataplane.Affinity.ReadAll(), Is.Empty, "no affinity asked, none kept");
            GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.SockConnect, 1));
        });
    }

    [Test]
    public void An_affinity_entry_made_by_the_tc_path_is_honoured_by_the_socket_path()
    {
        Mode(SocketLbMode.Tcp);
        var backends = ManyBackends(8);
        _dp.AddService(TcpVip, L4Protocol.Tcp, backends, flags: FrontendFlags.Affinity, affinityTimeoutSeconds: 60);
        // The TC path balances the client's first flow (a SYN from its pod) ...
        var syn = _dp.Run(Frames.Tcp(Client, TcpVip, Packets.TcpFlags.Syn, sequence: 1));
        var tcChose = Packets.FrameView.Parse(syn.Output).Ip;

        // ... and a later socket of the same client, bound to its address, gets the same backend.
        var connect = _shim.Run(SocketCall.Connect, Cookie, Vip, L4Protocol.Tcp, source: Client.Address);

        Assert.That(connect, Is.EqualTo(new SocketCallResult(SocketVerdict.Translated, new IPEndPoint(tcChose.Destination, tcChose.Tcp.DestinationPort))));
    }
}
