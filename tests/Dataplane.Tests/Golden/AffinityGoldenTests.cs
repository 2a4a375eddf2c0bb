using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Tests.Packets;
using static ProxyReplacement.Dataplane.Tests.Golden.Topology;

namespace ProxyReplacement.Dataplane.Tests.Golden;

/// <summary>program.md §6: ClientIP session affinity through pr_aff4.</summary>
[TestFixture(DataplaneVariant.Fast), TestFixture(DataplaneVariant.Compat), Category("Privileged")]
public sealed class AffinityGoldenTests(DataplaneVariant variant)
{
    // Short, so that "expired" timestamps stay positive on a machine booted a moment ago
    // (CLOCK_MONOTONIC starts at boot; an underflowed stamp would read as the far future).
    private const uint TimeoutSeconds = 5;
    private static readonly IReadOnlyList<Endpoint> Backends = ManyBackends(8);
    private static readonly NatFrontendKey4 Frontend = FrontendKey(TcpVip, L4Protocol.Tcp);

    private GoldenDataplane _dp = null!;

    [OneTimeSetUp] public void LoadDataplane() => _dp = GoldenDataplane.Load(variant);
    [OneTimeTearDown] public void Unload() => _dp?.Dispose();

    [SetUp]
    public void Reset()
    {
        _dp.Reset();
        _dp.AddService(TcpVip, L4Protocol.Tcp, Backends, flags: FrontendFlags.Affinity, affinityTimeoutSeconds: TimeoutSeconds);
    }

    private Endpoint NewFlow(Endpoint client)
    {
        var result = _dp.Run(Frames.Tcp(client, TcpVip, TcpFlags.Syn, sequence: 1));
        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        var ip = FrameView.Parse(result.Output).Ip;
        var chosen = new Endpoint(ip.Destination, ip.Tcp.DestinationPort);
        Assert.That(Backends, Does.Contain(chosen));
        GoldenDataplane.AssertFrame(result.Output, Frames.Tcp(client, chosen, TcpFlags.Syn, sequence: 1));
        return chosen;
    }

    private AffinityValue4 AffinityOf(Endpoint client)
    {
        Assert.That(_dp.Dataplane.Affinity.TryLookup(new AffinityKey4(Frontend, client.Address), out var value), Is.True,
            $"affinity entry of {client.Address}");
        return value;
    }

    /// <summary>The entry names the backend chosen, at its current ordinal, and was just used.</summary>
    private void AssertAffinityRecords(Endpoint client, Endpoint chosen, ulong before, ulong after)
    {
        var affinity = AffinityOf(client);
        Assert.Multiple(() =>
        {
            Assert.That(affinity.Ordinal, Is.LessThan((uint)Backends.Count));
            if (affinity.Ordinal < Backends.Count)
                Assert.That(Backends[(int)affinity.Ordinal], Is.EqualTo(chosen), "the ordinal holds the chosen backend");
            Assert.That(affinity.BackendAddress, Is.EqualTo(chosen.Address));
            Assert.That(affinity.BackendPort, Is.EqualTo(chosen.Port));
            Assert.That(affinity.LastUsedNs, Is.InRange(before, after));
        });
    }

    [Test]
    public void LaterNewFlowsFromTheSameClientGoToTheSameBackend()
    {
        var before = Monotonic.NowNs();
        var first = NewFlow(Client);
        AssertAffinityRecords(Client, first, before, Monotonic.NowNs());

        for (ushort i = 1; i <= 6; i++)
        {
            var again = Monotonic.NowNs();
            Assert.That(NewFlow(Client with { Port = (ushort)(Client.Port + i) }), Is.EqualTo(first), $"new flow {i}");
            AssertAffinityRecords(Client, first, again, Monotonic.NowNs());
        }
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 7), (CounterReason.AffinityHit, 6));
    }

    [Test]
    public void EachClientHasItsOwnAffinity()
    {
        var before = Monotonic.NowNs();
        var mine = NewFlow(Client);
        var theirs = NewFlow(OtherClient);
        var after = Monotonic.NowNs();

        AssertAffinityRecords(Client, mine, before, after);
        AssertAffinityRecords(OtherClient, theirs, before, after);
        Assert.That(NewFlow(OtherClient with { Port = 51001 }), Is.EqualTo(theirs));
        Assert.That(NewFlow(Client with { Port = 40001 }), Is.EqualTo(mine));
        Assert.That(_dp.Dataplane.Affinity.ReadAll(), Has.Count.EqualTo(2));
    }

    [Test]
    public void ValidAffinityEntryDecidesTheBackend()
    {
        var stored = Backends[5];
        _dp.Dataplane.Affinity.Update(new AffinityKey4(Frontend, Client.Address),
            new AffinityValue4(Monotonic.NowNs() - GoldenClock.Second, 5, stored.Address, stored.Port));

        var before = Monotonic.NowNs();
        var result = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Syn, sequence: 1));
        var after = Monotonic.NowNs();

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output, Frames.Tcp(Client, stored, TcpFlags.Syn, sequence: 1));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1), (CounterReason.AffinityHit, 1));
        AssertAffinityRecords(Client, stored, before, after);
        var forward = _dp.ConntrackEntry(new ConntrackKey4(Client.Address, Client.Port, TcpVip.Address, TcpVip.Port, L4Protocol.Tcp));
        Assert.That(forward.Flags, Is.EqualTo(1), "PR_CT_F_AFFINITY: the backend came from the affinity map");
    }

    public enum Staleness { BackendMoved, Expired, OrdinalBeyondCount }

    [Test]
    public void StaleAffinityIsNotUsed([Values] Staleness staleness)
    {
        var now = Monotonic.NowNs();
        var leftover = Endpoint.Of("10.244.99.99", 9999);
        var stale = staleness switch
        {
            // The entry names ordinal 3, but ordinal 3 now holds another backend.
            Staleness.BackendMoved => new AffinityValue4(now, 3, leftover.Address, leftover.Port),
            Staleness.Expired => new AffinityValue4(now - (TimeoutSeconds + 2) * GoldenClock.Second, 3, Backends[3].Address, Backends[3].Port),
            // A backend entry lingers past the count; the ordinal check must keep it out.
            Staleness.OrdinalBeyondCount => new AffinityValue4(now, (uint)Backends.Count, leftover.Address, leftover.Port),
            _ => throw new ArgumentOutOfRangeException(nameof(staleness)),
        };
        if (staleness == Staleness.OrdinalBeyondCount)
            _dp.Dataplane.Backends.Update(new NatBackendKey(ServiceId, (uint)Backends.Count), new NatBackendValue4(leftover.Address, leftover.Port));
        _dp.Dataplane.Affinity.Update(new AffinityKey4(Frontend, Client.Address), stale);

        var before = Monotonic.NowNs();
        var chosen = NewFlow(Client);
        var after = Monotonic.NowNs();

        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1));
        AssertAffinityRecords(Client, chosen, before, after);
    }

    [Test]
    public void APacketFromZeroSourceCannotTouchTheHostNetnsEntry()
    {
        // 0.0.0.0 is the socket hooks' identity of the host netns (PR_AFF_CLIENT_HOST); a pod that
        // forges it must neither be balanced by nor refresh the host's entry.
        var hostEntry = new AffinityValue4(Monotonic.NowNs() - GoldenClock.Second, 2, Backends[2].Address, Backends[2].Port);
        var hostKey = new AffinityKey4(Frontend, AffinityKey4.HostClient);
        _dp.Dataplane.Affinity.Update(hostKey, hostEntry);
        var forged = Endpoint.Of("0.0.0.0", 40000);

        var result = _dp.Run(Frames.Tcp(forged, TcpVip, TcpFlags.Syn, sequence: 1));

        Assert.Multiple(() =>
        {
            Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Shot));
            GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.DropAffinityNoClient, 1));
            Assert.That(_dp.Dataplane.Affinity.ReadAll().ToList(),
                Is.EqualTo(new[] { new KeyValuePair<AffinityKey4, AffinityValue4>(hostKey, hostEntry) }), "the host's entry untouched, nothing added");
            Assert.That(_dp.Dataplane.Conntrack.ReadAll(), Is.Empty);
        });
    }

    [Test]
    public void AffinityEntryIsIgnoredWhenTheFrontendDoesNotAskForAffinity()
    {
        _dp.AddService(TcpVip, L4Protocol.Tcp, Backends); // same Service, flags cleared
        var entry = new AffinityValue4(Monotonic.NowNs(), 5, Backends[5].Address, Backends[5].Port);
        _dp.Dataplane.Affinity.Update(new AffinityKey4(Frontend, Client.Address), entry);

        NewFlow(Client);

        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1));
        Assert.That(AffinityOf(Client), Is.EqualTo(entry), "left alone");
    }
}
