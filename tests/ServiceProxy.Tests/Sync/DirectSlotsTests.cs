using System.Diagnostics.CodeAnalysis;
using System.Net;
using FsCheck;
using FsCheck.Fluent;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Tests.Support;
using Property = FsCheck.Property;
using PropertyAttribute = FsCheck.NUnit.PropertyAttribute;

namespace ProxyReplacement.ServiceProxy.Tests.Sync;

/// <summary>
/// The fast path's slot rule (<see cref="DirectSlots"/>): which frontends qualify, the slot of a VIP, the winner of a
/// shared slot; against hand-written values and, on random frontends, against <see cref="DirectSlotsModel"/>.
/// </summary>
[SuppressMessage("Usage", "NUnit1027:The test method has parameters, but no arguments are supplied by attributes",
    Justification = "FsCheck properties: FsCheck supplies the arguments")]
public sealed class DirectSlotsTests
{
    private static NatFrontendKey4 Fe(string vip, ushort port = 80, L4Protocol protocol = L4Protocol.Tcp) => new(IPAddress.Parse(vip), port, protocol);

    private static NatBackendValue4 Be(string address, ushort port = 8080) => new(IPAddress.Parse(address), port);

    private static NatMapContents Maps(params (NatFrontendKey4 Key, NatFrontendValue Value)[] frontends)
    {
        var maps = NatMapContents.Empty;
        foreach (var (key, value) in frontends)
        {
            maps.Frontends[key] = value;
            for (uint ordinal = 0; ordinal < value.BackendCount; ordinal++)
                maps.Backends[new NatBackendKey(value.ServiceId, ordinal)] = Be($"10.244.{value.ServiceId}.{ordinal + 1}");
        }
        return maps;
    }

    [Test]
    public void A_ClusterIP_frontend_takes_the_slot_of_its_addresses_low_bits_with_its_backends_in_ordinal_order()
    {
        var maps = Maps((Fe("10.96.1.5"), new NatFrontendValue(7, 2)));

        var slots = DirectSlots.Compute(maps, mask: 0xFF).Entries;

        // 10.96.1.5 is 0x0A600105: & 0xFF = 5. With 0x3FF (1024 slots) it is 0x105 = 261.
        Assert.That(slots.Keys, Is.EqualTo(new[] { 5u }));
        var entry = slots[5];
        Assert.Multiple(() =>
        {
            Assert.That(entry.IsSealed, Is.True);
            Assert.That(entry.Frontend, Is.EqualTo(Fe("10.96.1.5")));
            Assert.That(entry.ServiceId, Is.EqualTo(7u));
            Assert.That(entry.GetBackends(), Is.EqualTo(new[] { Be("10.244.7.1"), Be("10.244.7.2") }));
            Assert.That(DirectSlots.Compute(maps, mask: 0x3FF).Entries.Keys, Is.EqualTo(new[] { 261u }));
            Assert.That(DirectSlots.Compute(maps, mask: 0).Entries.Keys, Is.EqualTo(new[] { 0u }), "one slot: every VIP on it");
        });
    }

    [TestCase(FrontendFlags.Affinity)]
    [TestCase(FrontendFlags.SourceRanges)]
    [TestCase(FrontendFlags.InternalLocal)]
    [TestCase(FrontendFlags.InternalLocal | FrontendFlags.ExternalLocal)]
    public void Affinity_source_ranges_and_internal_policy_Local_keep_a_frontend_on_the_hash_path(FrontendFlags flags)
    {
        var maps = Maps((Fe("10.96.0.5"), new NatFrontendValue(1, 2, flags)));
        Assert.That(DirectSlots.Compute(maps, 0xFF).Entries, Is.Empty);
    }

    [TestCase(FrontendFlags.ExternalLocal)]
    [TestCase(FrontendFlags.ModeDsr)]
    [TestCase(FrontendFlags.ModeSnat | FrontendFlags.ExternalLocal)]
    public void Flags_that_only_concern_external_traffic_do_not(FrontendFlags flags)
    {
        var maps = Maps((Fe("10.96.0.5"), new NatFrontendValue(1, 2, flags)));
        Assert.That(DirectSlots.Compute(maps, 0xFF).Entries.Keys, Is.EqualTo(new[] { 5u }));
    }

    [TestCase(FrontendKind.NodePort)]
    [TestCase(FrontendKind.LoadBalancer)]
    [TestCase(FrontendKind.ExternalIP)]
    public void Only_ClusterIP_frontends_qualify(FrontendKind kind)
    {
        var maps = Maps((Fe("10.96.0.5"), new NatFrontendValue(1, 2, kind: kind)));
        Assert.That(DirectSlots.Compute(maps, 0xFF).Entries, Is.Empty);
    }

    [TestCase(0u, false)]
    [TestCase(1u, true)]
    [TestCase(6u, true)]
    [TestCase(7u, false)]
    public void A_frontend_needs_one_to_six_backends(uint count, bool qualifies)
    {
        var maps = Maps((Fe("10.96.0.5"), new NatFrontendValue(1, count)));
        Assert.That(DirectSlots.Compute(maps, 0xFF).Entries.Count, Is.EqualTo(qualifies ? 1 : 0));
    }

    [Test]
    public void A_frontend_whose_backends_are_not_all_desired_does_not_qualify_and_the_next_on_its_slot_wins()
    {
        var maps = Maps((Fe("10.96.0.5", 80), new NatFrontendValue(1, 3)), (Fe("10.96.0.5", 443), new NatFrontendValue(2, 1)));
        maps.Backends.Remove(new NatBackendKey(1, 1));

        var slots = DirectSlots.Compute(maps, 0xFF).Entries;

        Assert.That(slots[5].Frontend, Is.EqualTo(Fe("10.96.0.5", 443)));
    }

    [Test]
    public void Of_a_multi_port_Services_frontends_the_lowest_port_then_protocol_wins()
    {
        var maps = Maps(
            (Fe("10.96.0.5", 443), new NatFrontendValue(1, 1)),
            (Fe("10.96.0.5", 80, L4Protocol.Udp), new NatFrontendValue(2, 1)),
            (Fe("10.96.0.5", 80, L4Protocol.Tcp), new NatFrontendValue(3, 1)),
            (Fe("10.96.0.5", 53, L4Protocol.Udp), new NatFrontendValue(4, 1, FrontendFlags.Affinity))); // lower, but not qualifying

        var slots = DirectSlots.Compute(maps, 0xFF).Entries;

        Assert.That(slots.Single().Value.Frontend, Is.EqualTo(Fe("10.96.0.5", 80, L4Protocol.Tcp)), "tcp (6) before udp (17)");
    }

    [Test]
    public void Of_two_VIPs_whose_low_bits_collide_the_lower_address_wins_numerically_not_by_its_bytes_in_memory()
    {
        // 10.96.1.5 and 10.97.0.5: 0x0A600105 < 0x0A610005, though the network-order uints compare the other way on a little-endian host.
        var maps = Maps((Fe("10.97.0.5"), new NatFrontendValue(1, 1)), (Fe("10.96.1.5"), new NatFrontendValue(2, 1)));

        var slots = DirectSlots.Compute(maps, 0xFF).Entries;

        Assert.That(slots.Single().Value.Frontend, Is.EqualTo(Fe("10.96.1.5")));
    }

    private static readonly string[] Vips = ["10.96.0.1", "10.96.0.2", "10.96.0.5", "10.96.1.1", "10.97.0.2", "192.168.0.3"];

    private static Gen<(NatFrontendKey4 Key, NatFrontendValue Value)> FrontendGen =>
        from vip in Gen.Elements(Vips)
        from port in Gen.Elements<ushort>(53, 80, 443)
        from protocol in Gen.Elements(L4Protocol.Tcp, L4Protocol.Udp, L4Protocol.Sctp)
        from id in Gen.Choose(1, 8)
        from count in Gen.Frequency((1, Gen.Constant(0)), (6, Gen.Choose(1, 6)), (1, Gen.Choose(7, 9)))
        from kind in Gen.Frequency((5, Gen.Constant(FrontendKind.ClusterIP)), (1, Gen.Elements(FrontendKind.NodePort, FrontendKind.ExternalIP)))
        from flags in Gen.Frequency((4, Gen.Constant(FrontendFlags.None)),
            (1, Gen.Elements(FrontendFlags.Affinity, FrontendFlags.SourceRanges, FrontendFlags.InternalLocal, FrontendFlags.ExternalLocal, FrontendFlags.ModeDsr)))
        select (Fe(vip, port, protocol), new NatFrontendValue((uint)id, (uint)count, flags, kind: kind));

    /// <summary>Random frontends on few VIPs (so slots are shared), their backends, some missing; a mask of 1 to 256 slots.</summary>
    private static Gen<(NatMapContents Maps, uint Mask, int Seed)> StateGen =>
        from frontends in Gen.ListOf(FrontendGen, 12)
        from mask in Gen.Elements(0u, 1u, 3u, 0xFFu)
        from seed in Gen.Choose(0, int.MaxValue)
        select (WithBackends(frontends, new Random(seed)), mask, seed);

    private static NatMapContents WithBackends(IEnumerable<(NatFrontendKey4 Key, NatFrontendValue Value)> frontends, Random random)
    {
        var maps = NatMapContents.Empty;
        foreach (var (key, value) in frontends)
            maps.Frontends[key] = value;
        foreach (var id in maps.Frontends.Values.Select(v => v.ServiceId).Distinct())
            for (uint ordinal = 0; ordinal < 9; ordinal++)
                if (random.Next(12) != 0) // now and then a gap
                    maps.Backends[new NatBackendKey(id, ordinal)] = Be($"10.244.{id}.{ordinal + 1}", (ushort)(8080 + random.Next(2)));
        return maps;
    }

    [Property(MaxTest = 500, QuietOnSuccess = true)]
    public Property The_slots_are_the_models_every_entry_sealed() =>
        Prop.ForAll(Arb.From(StateGen), state =>
        {
            var (maps, mask, _) = state;
            var slots = DirectSlots.Compute(maps, mask).Entries;
            var expected = DirectSlotsModel.Expected(maps.Frontends, maps.Backends, mask);
            return slots.Count == expected.Count && expected.All(pair => slots.TryGetValue(pair.Key, out var entry) && entry.Equals(pair.Value)) &&
                   slots.Values.All(entry => entry.IsSealed) && slots.Keys.All(slot => slot <= mask);
        });

    [Property(MaxTest = 300, QuietOnSuccess = true)]
    public Property The_slots_do_not_depend_on_the_order_the_frontends_come_in() =>
        Prop.ForAll(Arb.From(StateGen), state =>
        {
            var (maps, mask, seed) = state;
            var random = new Random(seed);
            var shuffled = maps.Frontends.OrderBy(_ => random.Next()).ToList();
            var again = DirectSlots.Compute(shuffled, maps.Backends.GetValueOrDefault, maps.Backends.ContainsKey, mask, only: null).Entries;
            var first = DirectSlots.Compute(maps, mask).Entries;
            return again.Count == first.Count && first.All(pair => again[pair.Key].Equals(pair.Value));
        });

    /// <summary>
    /// An incremental pass: some frontends of a state changed, added or removed (and their ids' backends with them). Deciding
    /// only the touched slots among the touched frontends and the last computation's candidates gives what computing the
    /// whole new state gives for those slots; the other slots keep their entries and candidates.
    /// </summary>
    [Property(MaxTest = 500, QuietOnSuccess = true)]
    public Property Recomputing_the_touched_slots_from_the_last_candidates_equals_computing_the_new_state() =>
        Prop.ForAll(Arb.From(from old in StateGen from changes in Gen.ListOf(FrontendGen, 5) from removals in Gen.Choose(0, 4) select (old, changes, removals)),
            input =>
            {
                var ((before, mask, seed), changes, removals) = input;
                var random = new Random(seed);
                var previous = DirectSlots.Compute(before, mask);
                var after = new NatMapContents(before.Frontends, before.Backends);
                var touched = new HashSet<NatFrontendKey4>();
                foreach (var key in before.Frontends.Keys.OrderBy(_ => random.Next()).Take(removals))
                {
                    after.Frontends.Remove(key);
                    touched.Add(key);
                }
                foreach (var (key, value) in changes)
                {
                    after.Frontends[key] = value;
                    touched.Add(key);
                }
                // The touched frontends' ids get new backends (some gaps); every frontend of such an id is touched too.
                var ids = touched.Select(key => after.Frontends.TryGetValue(key, out var v) ? v.ServiceId : 0).Where(id => id != 0).ToHashSet();
                foreach (var id in ids)
                    for (uint ordinal = 0; ordinal < 9; ordinal++)
                        if (random.Next(8) == 0)
                            after.Backends.Remove(new NatBackendKey(id, ordinal));
                        else
                            after.Backends[new NatBackendKey(id, ordinal)] = Be($"10.245.{id}.{ordinal + 1}");
                foreach (var (key, value) in after.Frontends)
                    if (ids.Contains(value.ServiceId))
                        touched.Add(key);
                foreach (var (key, value) in before.Frontends)
                    if (ids.Contains(value.ServiceId))
                        touched.Add(key);

                IEnumerable<NatFrontendKey4> Before(uint slot) =>
                    previous.Contended.TryGetValue(slot, out var all) ? all : previous.Entries.TryGetValue(slot, out var e) ? [e.Frontend] : [];
                var recomputed = DirectSlots.Recompute(touched, Before, key => after.Frontends.TryGetValue(key, out var v) ? v : null,
                    after.Backends.GetValueOrDefault, after.Backends.ContainsKey, mask);
                var whole = DirectSlots.Compute(after, mask);
                var slots = DirectSlots.SlotsOf(touched, mask);

                var entries = whole.Entries.Where(p => slots.Contains(p.Key)).ToList();
                var contended = whole.Contended.Where(p => slots.Contains(p.Key)).ToList();
                var untouchedKept = previous.Entries.Where(p => !slots.Contains(p.Key)).All(p => whole.Entries.TryGetValue(p.Key, out var e) && e.Equals(p.Value));
                return (recomputed.Entries.Count == entries.Count && entries.All(p => recomputed.Entries.TryGetValue(p.Key, out var e) && e.Equals(p.Value)))
                    .Label("entries of the touched slots") .And(
                    (recomputed.Contended.Count == contended.Count && contended.All(p => recomputed.Contended.TryGetValue(p.Key, out var c) && c.SequenceEqual(p.Value)))
                    .Label("candidates of the touched slots")).And(untouchedKept.Label("untouched slots unchanged"));
            });

    [Property(MaxTest = 300, QuietOnSuccess = true)]
    public Property Computing_only_some_slots_gives_exactly_those_slots_of_the_whole_computation() =>
        Prop.ForAll(Arb.From(StateGen), state =>
        {
            var (maps, mask, seed) = state;
            var random = new Random(seed);
            var only = Enumerable.Range(0, (int)mask + 1).Select(i => (uint)i).Where(_ => random.Next(2) == 0).ToHashSet();
            var some = DirectSlots.Compute(maps.Frontends, maps.Backends.GetValueOrDefault, maps.Backends.ContainsKey, mask, only).Entries;
            var all = DirectSlots.Compute(maps, mask).Entries;
            var expected = all.Where(pair => only.Contains(pair.Key)).ToList();
            return some.Count == expected.Count && expected.All(pair => some[pair.Key].Equals(pair.Value));
        });
}
