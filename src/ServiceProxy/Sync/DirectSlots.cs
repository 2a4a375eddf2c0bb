using System.Buffers.Binary;
using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// The ClusterIP fast path's desired contents (<c>pr_nat_direct4</c>, bpf-c/include/pr_map_abi.h): which frontend each
/// slot holds, computed from the desired NAT entries. Pure; the contract with the programs:
/// <list type="bullet">
/// <item>a frontend qualifies when it is a ClusterIP (<see cref="FrontendKind.ClusterIP"/>) without affinity, source ranges
/// or internalTrafficPolicy Local (<see cref="Disqualifying"/>: those need the hash path's per-flow work), with 1 to
/// <see cref="NatDirectEntry4.MaxBackends"/> backends, all of them (ordinals 0..count-1) among the desired backends;</item>
/// <item>its slot is the host-order VIP's low bits (<see cref="SlotOf"/>, what the reader computes: ntohl(vip) &amp; mask);</item>
/// <item>of the qualifying frontends on one slot (the ports of a multi-port Service, or VIPs whose low bits collide) the
/// smallest (host-order VIP, port, protocol) wins; the others stay on the hash path, correct and a little slower;</item>
/// <item>its entry is <see cref="NatDirectEntry4"/> of the key, the service id and the backends in ordinal order (sealed).</item>
/// </list>
/// A slot nobody wins is absent from the result: the map holds zero there.
/// </summary>
public static class DirectSlots
{
    /// <summary>The flags that keep a frontend on the hash path: <c>PR_FE_F_AFFINITY | PR_FE_F_SOURCE_RANGES | PR_FE_F_INT_LOCAL</c>.</summary>
    public const FrontendFlags Disqualifying = FrontendFlags.Affinity | FrontendFlags.SourceRanges | FrontendFlags.InternalLocal;

    /// <summary>The slot of <paramref name="key"/>'s VIP: its host-order address's low bits.</summary>
    public static uint SlotOf(NatFrontendKey4 key, uint mask) =>
        (BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(key.VipNbo) : key.VipNbo) & mask;

    /// <summary>Whether the value alone lets a frontend have a slot (its backends must also all be desired).</summary>
    public static bool QualifiesByValue(NatFrontendValue value) =>
        value.Kind == FrontendKind.ClusterIP && (value.Flags & Disqualifying) == 0 &&
        value.BackendCount is >= 1 and <= NatDirectEntry4.MaxBackends;

    /// <summary>The desired slots of the whole desired state.</summary>
    public static DirectSlotSet Compute(NatMapContents desired, uint mask) =>
        Compute(desired.Frontends, desired.Backends.GetValueOrDefault, desired.Backends.ContainsKey, mask, only: null);

    /// <summary>
    /// The winners of the slots of <paramref name="frontends"/> (all of them, or only the slots in <paramref name="only"/>),
    /// each decided among every qualifying frontend given for it.
    /// </summary>
    /// <param name="frontends">The desired frontends (all of them, or at least every candidate of the slots computed).</param>
    /// <param name="backendOf">A desired backend's value.</param>
    /// <param name="hasBackend">Whether a backend key is desired.</param>
    public static DirectSlotSet Compute(IEnumerable<KeyValuePair<NatFrontendKey4, NatFrontendValue>> frontends,
        Func<NatBackendKey, NatBackendValue4> backendOf, Func<NatBackendKey, bool> hasBackend, uint mask, IReadOnlySet<uint>? only)
    {
        var winners = new Dictionary<uint, (ulong Order, NatFrontendKey4 Key, NatFrontendValue Value)>();
        Dictionary<uint, List<NatFrontendKey4>>? shared = null;
        foreach (var (key, value) in frontends)
        {
            if (!QualifiesByValue(value))
                continue;
            var slot = SlotOf(key, mask);
            if (only is not null && !only.Contains(slot))
                continue;
            if (!AllBackendsDesired(value, hasBackend))
                continue;
            var order = MapOrder.Frontend(key);
            if (winners.TryGetValue(slot, out var holder))
            {
                // A slot several qualify for: all of them are kept, for the incremental pass that removes its holder.
                shared ??= [];
                if (!shared.TryGetValue(slot, out var contenders))
                    shared[slot] = contenders = [holder.Key];
                contenders.Add(key);
                if (holder.Order <= order)
                    continue;
            }
            winners[slot] = (order, key, value);
        }
        var entries = new Dictionary<uint, NatDirectEntry4>(winners.Count);
        var backends = new List<NatBackendValue4>(NatDirectEntry4.MaxBackends);
        foreach (var (slot, (_, key, value)) in winners)
        {
            backends.Clear();
            for (uint ordinal = 0; ordinal < value.BackendCount; ordinal++)
                backends.Add(backendOf(new NatBackendKey(value.ServiceId, ordinal)));
            entries[slot] = new NatDirectEntry4(key, value.ServiceId, backends);
        }
        var contended = new Dictionary<uint, NatFrontendKey4[]>(shared?.Count ?? 0);
        foreach (var (slot, contenders) in shared ?? [])
            contended[slot] = [.. contenders.OrderBy(MapOrder.Frontend)];
        return new DirectSlotSet(entries, contended);
    }

    /// <summary>
    /// An incremental pass's slots: those of the frontends it touched, each decided among the touched frontends on it (as
    /// the pass leaves them) and the slot's qualifying frontends of the last sync that it did not touch (still qualifying:
    /// their values and backends are unchanged). Costs what the change touches, not the cluster: the last sync's
    /// qualifying frontends of a slot are its holder, or <see cref="DirectSlotSet.Contended"/>'s list where there were several.
    /// </summary>
    /// <param name="touchedKeys">Every frontend key the pass touched (old and new).</param>
    /// <param name="before">A slot's qualifying frontends at the last sync.</param>
    /// <param name="frontendOf">A frontend's value as the pass leaves it (null: none).</param>
    public static DirectSlotSet Recompute(IReadOnlyCollection<NatFrontendKey4> touchedKeys, Func<uint, IEnumerable<NatFrontendKey4>> before,
        Func<NatFrontendKey4, NatFrontendValue?> frontendOf, Func<NatBackendKey, NatBackendValue4> backendOf, Func<NatBackendKey, bool> hasBackend,
        uint mask)
    {
        var slots = SlotsOf(touchedKeys, mask);
        var touched = touchedKeys as IReadOnlySet<NatFrontendKey4> ?? touchedKeys.ToHashSet();
        var candidates = new List<KeyValuePair<NatFrontendKey4, NatFrontendValue>>();
        foreach (var key in touchedKeys)
            if (frontendOf(key) is { } value)
                candidates.Add(new(key, value));
        foreach (var slot in slots)
            foreach (var key in before(slot))
                if (!touched.Contains(key) && frontendOf(key) is { } value)
                    candidates.Add(new(key, value));
        return Compute(candidates, backendOf, hasBackend, mask, slots);
    }

    /// <summary>The slots the frontends at <paramref name="keys"/> sit on.</summary>
    public static HashSet<uint> SlotsOf(IEnumerable<NatFrontendKey4> keys, uint mask)
    {
        var slots = new HashSet<uint>();
        foreach (var key in keys)
            slots.Add(SlotOf(key, mask));
        return slots;
    }

    /// <summary>Whether two entries are for the same frontend (VIP, port, protocol): the same copy, perhaps of other backends.</summary>
    public static bool SameFrontend(in NatDirectEntry4 a, in NatDirectEntry4 b) =>
        a.VipNbo == b.VipNbo && a.PortNbo == b.PortNbo && a.Protocol == b.Protocol;

    private static bool AllBackendsDesired(NatFrontendValue value, Func<NatBackendKey, bool> hasBackend)
    {
        for (uint ordinal = 0; ordinal < value.BackendCount; ordinal++)
            if (!hasBackend(new NatBackendKey(value.ServiceId, ordinal)))
                return false;
        return true;
    }
}

/// <summary>The desired slots (<see cref="DirectSlots"/>).</summary>
/// <param name="Entries">Each slot someone wins, with the winner's entry.</param>
/// <param name="Contended">The slots several frontends qualify for, with all of them, the winner first.</param>
public sealed record DirectSlotSet(Dictionary<uint, NatDirectEntry4> Entries, Dictionary<uint, NatFrontendKey4[]> Contended);
