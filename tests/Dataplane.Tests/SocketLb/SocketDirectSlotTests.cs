using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Tests.Golden;
using static ProxyReplacement.Dataplane.Tests.Golden.Topology;

namespace ProxyReplacement.Dataplane.Tests.SocketLb;

/// <summary>
/// connect() through the ClusterIP fast path (pr_lb_direct4, which pr_sock_forward4 tries first): a sealed slot of the
/// VIP answers, anything else falls back to the hash lookups. As in DirectSlotGoldenTests the slot names another backend
/// than pr_nat_be4, so the answer tells the paths apart.
/// </summary>
[TestFixture, Category("Privileged")]
public sealed class SocketDirectSlotTests
{
    private const ulong Cookie = 4242;
    private static readonly IPEndPoint Vip = new(TcpVip.Address, TcpVip.Port);

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
        _dp.Dataplane.SetSocketLbMode(SocketLbMode.Tcp);
    }

    [Test]
    public void A_sealed_slot_translates_connect_and_the_socket_remembers_the_vip()
    {
        _dp.WriteSlot(TcpVip, L4Protocol.Tcp, [BackendB]);

        var connect = _shim.Run(SocketCall.Connect, Cookie, Vip, L4Protocol.Tcp);

        Assert.Multiple(() =>
        {
            Assert.That(connect, Is.EqualTo(new SocketCallResult(SocketVerdict.Translated, new IPEndPoint(BackendB.Address, BackendB.Port))));
            Assert.That(_dp.Dataplane.SocketReverse.ReadAll().Select(e => e.Value).ToList(),
                Is.EqualTo(new[] { new SocketReverseValue4(Vip.Address, (ushort)Vip.Port) }), "getpeername() still reports the VIP");
            GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatDirect, 1), (CounterReason.SockConnect, 1));
        });
    }

    [Test]
    public void Without_a_matching_slot_connect_takes_the_hash_path()
    {
        _dp.WriteSlot(TcpVip with { Port = 81 }, L4Protocol.Tcp, [BackendB]);

        var connect = _shim.Run(SocketCall.Connect, Cookie, Vip, L4Protocol.Tcp);

        Assert.That(connect, Is.EqualTo(new SocketCallResult(SocketVerdict.Translated, new IPEndPoint(BackendA.Address, BackendA.Port))));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.SockConnect, 1));
    }
}
