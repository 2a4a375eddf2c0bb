using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Tests.Packets;
using static ProxyReplacement.Dataplane.Tests.Golden.Topology;

namespace ProxyReplacement.Dataplane.Tests.Golden;

/// <summary>
/// The ClusterIP fast path (pr_lb_direct4 in bpf-c/include/pr_lb.h, slots of pr_nat_direct4): a new flow to a VIP whose
/// slot holds its frontend, sealed, is balanced from the slot; any other slot sends it through the hash lookups, which
/// stay complete. To tell the two paths apart, the slot names another backend than pr_nat_be4 does (the Syncer writes
/// the same backends to both); the nat_direct counter says which path ran.
/// </summary>
[TestFixture(DataplaneVariant.Fast), TestFixture(DataplaneVariant.Compat), Category("Privileged")]
public sealed class DirectSlotGoldenTests(DataplaneVariant variant)
{
    private GoldenDataplane _dp = null!;

    [OneTimeSetUp] public void LoadDataplane() => _dp = GoldenDataplane.Load(variant);
    [OneTimeTearDown] public void Unload() => _dp?.Dispose();
    [SetUp] public void Reset() => _dp.Reset();

    [Test]
    public void A_sealed_slot_answers_the_new_flow_and_the_flow_is_tracked_to_its_backend()
    {
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);
        _dp.WriteSlot(TcpVip, L4Protocol.Tcp, [BackendB]);
        var input = Frames.Tcp(Client, TcpVip, TcpFlags.Syn, sequence: 1000, options: Frames.SynOptions);

        var before = Monotonic.NowNs();
        var result = _dp.Run(input);
        var after = Monotonic.NowNs();

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output, Frames.Tcp(Client, BackendB, TcpFlags.Syn, sequence: 1000, options: Frames.SynOptions));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatDirect, 1), (CounterReason.NatNewFlow, 1));
        var forward = _dp.ConntrackEntry(new ConntrackKey4(Client.Address, Client.Port, TcpVip.Address, TcpVip.Port, L4Protocol.Tcp));
        Assert.Multiple(() =>
        {
            Assert.That(forward.NatAddress, Is.EqualTo(BackendB.Address));
            Assert.That(forward.NatPort, Is.EqualTo(BackendB.Port));
            Assert.That(forward.ServiceId, Is.EqualTo(ServiceId), "the slot's service id, as the frontend's");
            Assert.That(forward.CreatedNs, Is.InRange(before, after), "the clock is read after the slot, not skipped");
        });

        // the reply comes back through the same conntrack pair as on the hash path
        var reply = _dp.Run(Frames.Tcp(BackendB, Client, TcpFlags.Syn | TcpFlags.Ack, sequence: 5000, acknowledgment: 1001));
        Assert.That(FrameView.Parse(reply.Output).Ip.Source, Is.EqualTo(TcpVip.Address), "reverse NAT to the VIP");
    }

    [Test]
    public void Every_backend_of_a_slot_is_chosen_and_nothing_beyond_its_count()
    {
        var backends = ManyBackends(6);
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);
        _dp.WriteSlot(TcpVip, L4Protocol.Tcp, backends);
        var seen = new HashSet<System.Net.IPAddress>();
        for (var i = 0; i < 300; i++)
        {
            var client = Endpoint.Of("10.244.1.5", (ushort)(20000 + i));
            var output = _dp.Run(Frames.Tcp(client, TcpVip, TcpFlags.Syn)).Output;
            seen.Add(FrameView.Parse(output).Ip.Destination);
        }

        // 300 uniform draws among 6 miss one with probability below 6 * (5/6)^300, about 1e-23
        Assert.That(seen, Is.EquivalentTo(backends.Select(b => b.Address)));
        Assert.That(_dp.Counter(CounterReason.NatDirect), Is.EqualTo(300UL));
    }

    [Test]
    public void A_torn_slot_fails_its_check_and_the_flow_takes_the_hash_path()
    {
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);
        var sealedEntry = _dp.WriteSlot(TcpVip, L4Protocol.Tcp, [BackendB]);
        // what a packet could read while the slot is rewritten: a new entry's backends under the old entry's check
        var newer = new NatDirectEntry4(FrontendKey(TcpVip, L4Protocol.Tcp), ServiceId, [new NatBackendValue4(BackendC.Address, BackendC.Port)]);
        var torn = WithCheck(newer, sealedEntry.Check);
        Assert.That(torn.IsSealed, Is.False, "the test's torn entry must fail the check");
        _dp.Dataplane.Direct.Update(_dp.SlotOf(TcpVip), torn);

        var result = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Syn));

        GoldenDataplane.AssertFrame(result.Output, Frames.Tcp(Client, BackendA, TcpFlags.Syn));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1));
    }

    [Test]
    public void A_slot_of_another_port_protocol_or_vip_is_not_used()
    {
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);
        var otherPort = TcpVip with { Port = (ushort)(TcpVip.Port + 1) };
        _dp.AddService(otherPort, L4Protocol.Tcp, [BackendC], serviceId: ServiceId + 1);
        // the slot holds the other port's frontend: same VIP, same slot
        _dp.WriteSlot(otherPort, L4Protocol.Tcp, [BackendB], serviceId: ServiceId + 1);

        var toPort = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Syn));
        var toOtherPort = _dp.Run(Frames.Tcp(Client, otherPort, TcpFlags.Syn));

        Assert.Multiple(() =>
        {
            Assert.That(FrameView.Parse(toPort.Output).Ip.Destination, Is.EqualTo(BackendA.Address), "port 80: the hash path");
            Assert.That(FrameView.Parse(toOtherPort.Output).Ip.Destination, Is.EqualTo(BackendB.Address), "port 81: its slot");
            Assert.That(_dp.Counter(CounterReason.NatDirect), Is.EqualTo(1UL));
        });

        _dp.Reset();
        _dp.AddService(UdpVip, L4Protocol.Udp, [UdpBackendA]);
        // a TCP entry for the UDP VIP:port: protocol differs
        _dp.WriteSlot(UdpVip, L4Protocol.Tcp, [UdpBackendB]);
        var udp = _dp.Run(Frames.Udp(Client, UdpVip));
        Assert.That(FrameView.Parse(udp.Output).Ip.Destination, Is.EqualTo(UdpBackendA.Address));

        _dp.Reset();
        // another VIP whose low bits land on the same slot (the mask is at most 2^20 - 1 here)
        var aliasVip = Endpoint.Of("10.112.0.10", TcpVip.Port);
        Assert.That(_dp.SlotOf(aliasVip), Is.EqualTo(_dp.SlotOf(TcpVip)), "the test needs two VIPs on one slot");
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);
        _dp.WriteSlot(aliasVip, L4Protocol.Tcp, [BackendB]);
        var aliased = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Syn));
        Assert.Multiple(() =>
        {
            Assert.That(FrameView.Parse(aliased.Output).Ip.Destination, Is.EqualTo(BackendA.Address));
            Assert.That(_dp.Counter(CounterReason.NatDirect), Is.Zero);
        });
    }

    [Test]
    public void With_the_mask_zero_the_table_is_off()
    {
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);
        _dp.WriteSlot(TcpVip, L4Protocol.Tcp, [BackendB]);
        _dp.Dataplane.WriteConfig(_dp.Dataplane.ReadConfig().WithDirectMask(0));

        var result = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Syn));

        GoldenDataplane.AssertFrame(result.Output, Frames.Tcp(Client, BackendA, TcpFlags.Syn));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1));
    }

    [Test]
    public void Traffic_from_outside_the_node_never_reads_a_slot()
    {
        // a NodePort-style frontend reached through pr_tc_from_host on the same VIP:port a slot answers for: the slot is
        // for pods only (origin internal), so the external path keeps the frontend's own rules
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA], kind: FrontendKind.ExternalIP);
        _dp.WriteSlot(TcpVip, L4Protocol.Tcp, [BackendB]);

        _dp.RunFromHost(Frames.Tcp(Unrelated, TcpVip, TcpFlags.Syn));

        Assert.That(_dp.Counter(CounterReason.NatDirect), Is.Zero);
    }

    /// <summary>The entry with another value in its check word (the bytes a torn read could see).</summary>
    private static NatDirectEntry4 WithCheck(NatDirectEntry4 entry, uint check)
    {
        var bytes = new byte[64];
        System.Runtime.InteropServices.MemoryMarshal.Write(bytes, in entry);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes, check);
        return System.Runtime.InteropServices.MemoryMarshal.Read<NatDirectEntry4>(bytes);
    }
}
