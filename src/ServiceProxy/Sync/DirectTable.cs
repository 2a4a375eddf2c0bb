using System.Numerics;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>What one pass writes to <c>pr_nat_direct4</c>, in its two halves (<see cref="DirectTable"/>).</summary>
/// <param name="ZeroFirst">Slots to empty before the NAT writes: they hold a frontend that is gone, no longer qualifies or lost the slot.</param>
/// <param name="WriteAfterMake">Slots to write between the NAT writes' make and break halves: new entries and new copies.</param>
public sealed record DirectPlan(IReadOnlyList<uint> ZeroFirst, IReadOnlyList<KeyValuePair<uint, NatDirectEntry4>> WriteAfterMake)
{
    public static readonly DirectPlan None = new([], []);
}

/// <summary>
/// The Syncer's writer of <c>pr_nat_direct4</c>, the ClusterIP fast path: keeps the map equal to the slots computed from
/// the desired NAT entries (<see cref="DirectSlots"/>), through a view of its non-empty slots (re-read on full resyncs,
/// kept otherwise, like <see cref="SideMap{TKey, TValue, TSeen}"/>). An ARRAY cannot delete: an empty slot is the zero
/// entry, which the dataplane's check refuses.
/// <para>
/// A slot is a copy of a frontend and its backends, read by new flows instead of the hash maps, so it must never be
/// staler than they are where that matters. The writes go in two halves around the NAT writes (<see cref="Plan"/>):
/// a slot whose frontend is deleted, stops qualifying (affinity, source ranges, internal policy Local, too many
/// backends) or loses the slot to another is emptied before any NAT write, so that no new flow takes a copy of a
/// frontend the hash path no longer serves that way; new and changed copies are written after the make half (new
/// backends and frontends in place) and before the break half (stale backends deleted, then the conntrack of removed
/// backends purged), so that a copy of a shrunk backend set is replaced before its removed backends are purged.
/// A failed write is a <see cref="SyncProblem"/>: the sync is unclean, and the next one rebuilds and repairs it.
/// </para>
/// </summary>
public sealed class DirectTable
{
    /// <summary>Writes from which a half goes to the kernel in batches (fewer are written one by one).</summary>
    private const int BatchFrom = 16;

    /// <summary>Slots per <c>BPF_MAP_UPDATE_BATCH</c> call.</summary>
    private const int BatchSize = 4096;

    private readonly IBpfMap<uint, NatDirectEntry4> _map;
    private Dictionary<uint, NatDirectEntry4>? _view;
    private Dictionary<uint, NatFrontendKey4[]> _contended = [];

    /// <param name="map">The table.</param>
    /// <param name="startsEmpty">
    /// The map was created empty by this load (not adopted from a pin): the first sync takes that for its contents instead
    /// of reading every slot (262,144 slots: about 80 ms and 18 MB of garbage at start, on the way to every Service programmed).
    /// </param>
    public DirectTable(IBpfMap<uint, NatDirectEntry4> map, bool startsEmpty = false)
    {
        if (!BitOperations.IsPow2(map.MaxEntries))
            throw new ArgumentException($"{map.Name} has {map.MaxEntries} slots, not a power of two: slots are a VIP's low bits", nameof(map));
        _map = map;
        Mask = (uint)map.MaxEntries - 1;
        if (startsEmpty)
            _view = [];
        _knownEmpty = startsEmpty;
    }

    private bool _knownEmpty;

    /// <summary><c>pr_config.direct_mask4</c>: the slots - 1.</summary>
    public uint Mask { get; }

    /// <summary>The map's slots.</summary>
    public int Size => _map.MaxEntries;

    /// <summary>Writes (entries and zeros) that reached the map so far.</summary>
    public long Writes { get; private set; }

    /// <summary>Slots holding an entry, as last written or read (0 before the first sync).</summary>
    public int Used => _view?.Count ?? 0;

    /// <summary>
    /// A slot's qualifying frontends at the last sync (its holder, or all of them where several qualified): what an
    /// incremental pass decides the slot among, with the frontends it touched (<see cref="DirectSlots.Recompute"/>).
    /// </summary>
    public IEnumerable<NatFrontendKey4> Before(uint slot) =>
        _contended.TryGetValue(slot, out var contenders) ? contenders
        : _view is not null && _view.TryGetValue(slot, out var entry) ? [entry.Frontend]
        : [];

    /// <summary>
    /// The writes that bring the map to <paramref name="desired"/>: every slot, or only those in <paramref name="only"/>
    /// (an incremental pass; <paramref name="desired"/> then holds the winners and candidates of those slots). <paramref name="reread"/>
    /// reads the map first (drift repaired). Also keeps the contended slots' candidates for <see cref="Before"/>.
    /// </summary>
    public DirectPlan Plan(DirectSlotSet desired, IReadOnlySet<uint>? only, bool reread)
    {
        if ((reread && !_knownEmpty) || _view is null)
            _view = ReadNonEmpty();
        _knownEmpty = false; // once: from the first sync on, a full resync reads what is there (drift repaired)
        var view = _view;
        if (only is null)
            _contended = desired.Contended;
        else
        {
            foreach (var slot in only)
                _contended.Remove(slot);
            foreach (var (slot, contenders) in desired.Contended)
                _contended[slot] = contenders;
        }
        var entries = desired.Entries;
        var zeroFirst = new List<uint>();
        var writeAfter = new List<KeyValuePair<uint, NatDirectEntry4>>();
        foreach (var slot in only ?? view.Keys.Union(entries.Keys).ToHashSet())
        {
            var holds = view.TryGetValue(slot, out var current);
            var wants = entries.TryGetValue(slot, out var wanted);
            if (holds && (!wants || !DirectSlots.SameFrontend(current, wanted)))
                zeroFirst.Add(slot);
            if (wants && (!holds || !current.Equals(wanted)))
                writeAfter.Add(new(slot, wanted));
        }
        zeroFirst.Sort();
        writeAfter.Sort((a, b) => a.Key.CompareTo(b.Key));
        return zeroFirst.Count == 0 && writeAfter.Count == 0 ? DirectPlan.None : new DirectPlan(zeroFirst, writeAfter);
    }

    /// <summary>The first half: empties the slots whose frontend must no longer be served from them.</summary>
    public void ZeroFirst(DirectPlan plan, List<SyncProblem> problems) =>
        WriteAll(plan.ZeroFirst.Select(slot => new KeyValuePair<uint, NatDirectEntry4>(slot, default)).ToList(), problems);

    /// <summary>The second half, between the NAT writes' make and break halves: the new and changed copies.</summary>
    public void WriteAfterMake(DirectPlan plan, List<SyncProblem> problems) => WriteAll(plan.WriteAfterMake, problems);

    /// <summary>
    /// Runs of writes go to the kernel as batches (a first sync fills a slot per ClusterIP); a failed batch is redone slot
    /// by slot, so each failure is reported, and kept out of the view, as a single write's would be.
    /// </summary>
    private void WriteAll(IReadOnlyList<KeyValuePair<uint, NatDirectEntry4>> writes, List<SyncProblem> problems)
    {
        if (writes.Count < BatchFrom)
        {
            foreach (var (slot, entry) in writes)
                Write(slot, entry, problems);
            return;
        }
        for (var start = 0; start < writes.Count; start += BatchSize)
        {
            var count = Math.Min(BatchSize, writes.Count - start);
            var slots = new uint[count];
            var entries = new NatDirectEntry4[count];
            for (var i = 0; i < count; i++)
                (slots[i], entries[i]) = writes[start + i];
            try
            {
                _map.UpdateBatch(slots, entries);
            }
            catch (BpfException)
            {
                for (var i = 0; i < count; i++)
                    Write(slots[i], entries[i], problems);
                continue;
            }
            for (var i = 0; i < count; i++)
                Record(slots[i], entries[i]);
        }
    }

    /// <summary>
    /// How many slots of the map, read now, differ from <paramref name="desired"/> (an entry missing, different or
    /// undesired). Reads the map and nothing else: safe beside the sync thread (<see cref="DriftCheck"/>).
    /// </summary>
    public int Differences(IReadOnlyDictionary<uint, NatDirectEntry4> desired)
    {
        // Only the map's non-empty slots are read out: a desired slot missing from them is empty in the map.
        var held = ReadNonEmpty();
        var differences = 0;
        foreach (var (slot, entry) in held)
            if (!entry.Equals(desired.GetValueOrDefault(slot)))
                differences++;
        foreach (var (slot, entry) in desired)
            if (!held.ContainsKey(slot) && !entry.Equals(default(NatDirectEntry4)))
                differences++;
        return differences;
    }

    private void Write(uint slot, NatDirectEntry4 entry, List<SyncProblem> problems)
    {
        try
        {
            _map.Update(slot, entry);
            Record(slot, entry);
        }
        catch (BpfException error)
        {
            var emptying = entry.Equals(default(NatDirectEntry4));
            var what = emptying ? "emptying" : $"writing {entry} to";
            problems.Add(new SyncProblem(SyncProblemKind.WriteFailed, $"{_map.Name}: {what} slot {slot}: {error.Message}", Error: error));
            // The slot still holds the old copy, perhaps of backends the break half is about to delete (and their flows
            // purged): emptied, it sends new flows to the hash lookups, which are right.
            if (!emptying && _view!.ContainsKey(slot))
                Write(slot, default, problems);
        }
    }

    private void Record(uint slot, NatDirectEntry4 entry)
    {
        if (entry.Equals(default(NatDirectEntry4)))
            _view!.Remove(slot);
        else
            _view![slot] = entry;
        Writes++;
    }

    /// <summary>The map's slots that hold something (an ARRAY has every slot; the empty ones are dropped as they are read).</summary>
    private Dictionary<uint, NatDirectEntry4> ReadNonEmpty()
    {
        var view = new Dictionary<uint, NatDirectEntry4>();
        foreach (var (slot, entry) in _map.ReadWhere(static (_, entry) => !entry.Equals(default(NatDirectEntry4))))
            view[slot] = entry;
        return view;
    }
}
