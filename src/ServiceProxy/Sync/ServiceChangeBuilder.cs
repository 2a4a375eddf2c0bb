using System.Net.Sockets;
using System.Runtime.InteropServices;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// What an incremental pass writes: the NAT writes (make before break, as <see cref="MapDiff"/> orders them), the owners of
/// the ids it programs, every id it touches (programmed or released), the problems a rebuild would report, every frontend
/// key it touches, and the side maps' delta (null when no Service object changed: only endpoints moved).
/// </summary>
public sealed record PartialSync(IReadOnlyList<MapWrite> Writes, IReadOnlyDictionary<uint, ServicePortKey> Owners, IReadOnlySet<uint> Ids,
    IReadOnlyList<string> Problems, IReadOnlyCollection<NatFrontendKey4> FrontendKeys, SideDelta? Side);

/// <summary>
/// The side maps' part of an incremental pass: the desired source ranges and names of the ids it programs (written where
/// missing or different) and the entries of its old versions that are no longer desired (deleted).
/// </summary>
public sealed record SideDelta(
    IReadOnlyDictionary<LbSourceRangeKey4, LbSourceRangeValue> SourceRanges,
    IReadOnlyList<LbSourceRangeKey4> StaleSourceRanges,
    IReadOnlyDictionary<uint, ServiceName> Names,
    IReadOnlyList<uint> StaleNames);

/// <summary>
/// The incremental path of a sync: when the commit follows the snapshot the previous sync left the maps in (that sync
/// reported no problem but conflicts), only the Services it changed are rebuilt — added, deleted, edited (ports, type,
/// NodePorts, LoadBalancer and external IPs, source ranges, affinity, traffic policies, the external-mode annotation) or
/// with new endpoints — with the rules of <see cref="DesiredStateBuilder"/>: their frontends (<see cref="Frontends"/>, in
/// the same <see cref="FrontendContext"/>), ids (<see cref="ServiceIdAllocator"/>: gone ports released first, new ones
/// allocated in <see cref="ServicePortKey"/> order, skipping the ids still in the maps), backend sets
/// (<see cref="BackendSets"/>) placed by <see cref="BackendOrdinals"/> over their current entries, source ranges and names
/// (<see cref="SideEntries"/>); their desired entries are diffed against their current ones. The writes, problems and
/// ids equal what a rebuild would produce, at a cost that grows with the change, not the cluster.
/// <para>
/// Returns null with the reason when that cannot be guaranteed, and the caller rebuilds everything: a changed Service
/// claims (or claimed) a frontend key that another service port claims too (<see cref="ProblemIndex.Contested"/>, or a
/// key an unchanged Service holds, or one two changed ports now want): who wins a contested key is decided over every
/// Service; or the maps do not hold what the last sync left for a changed Service. A Service whose object did not
/// change (only its EndpointSlices did) may hold a contested key it won. Nothing is changed before the decision;
/// once it is taken, the allocator and the problem index are updated for the new snapshot, so call it once
/// per commit.
/// </para>
/// </summary>
public static class ServiceChangeBuilder
{
    /// <summary>A programmed port of a changed Service as the last sync left it.</summary>
    private readonly record struct OldPort(Service Service, ServicePortKey Key, uint Id);

    /// <summary>A programmed port of a changed Service as the snapshot wants it; its frontends in the shared list.</summary>
    private readonly record struct NewPort(Service Service, ObjectKey ServiceKey, ServicePort Port, ServicePortKey Key, int First, int Count);

    /// <param name="clean">The snapshot the previous sync applied without any problem but conflicts (the maps hold exactly its desired state).</param>
    /// <param name="problems">The problems of <paramref name="clean"/>'s desired state; updated to the new snapshot's when this returns non-null.</param>
    public static PartialSync? TryBuild(ServiceSnapshot clean, ServiceSnapshot snapshot, IReadOnlySet<ObjectKey> changedServices,
        ServiceIdAllocator ids, NatMapContents view, FrontendContext context, ProblemIndex problems, out RebuildReason reason)
    {
        reason = default;
        var changed = changedServices.ToArray();
        Array.Sort(changed);
        var contested = problems.Contested;

        // What the changed Services have in the maps: every programmed port's frontends must be its id's there, with one
        // pair of counts, and its backends exactly those counts (the state the last sync left).
        var current = new NatMapContents(4, 8);
        var oldPorts = new List<OldPort>();
        var existingOf = new Dictionary<uint, List<KeyValuePair<NatBackendKey, NatBackendValue4>>>();
        var unchanged = new bool[changed.Length];
        var scratch = new List<FrontendEntry>();
        var anyServiceChanged = false;
        for (var s = 0; s < changed.Length; s++)
        {
            clean.Services.TryGetValue(changed[s], out var before);
            snapshot.Services.TryGetValue(changed[s], out var after);
            unchanged[s] = before is not null && after is not null && (ReferenceEquals(before, after) || before.Equals(after));
            anyServiceChanged |= !unchanged[s] && (before is not null || after is not null);
            if (before is null)
                continue;
            foreach (var port in before.Ports)
            {
                scratch.Clear();
                Frontends.Add(before, port, context, scratch, problems: null);
                if (scratch.Count == 0)
                    continue; // not programmed (IPv6 only)
                var key = DesiredStateBuilder.KeyOf(before, port);
                if (!ids.TryGet(key, out var id) || existingOf.ContainsKey(id))
                    return Fail(RebuildReason.Unexpected, out reason); // no id, or a port repeated
                (uint Cluster, uint Local)? counts = null;
                foreach (var (frontend, _) in scratch)
                {
                    if (!unchanged[s] && contested.Contains(frontend))
                        return Fail(RebuildReason.ContestedFrontend, out reason);
                    if (!view.Frontends.TryGetValue(frontend, out var value) || value.ServiceId != id)
                        return Fail(contested.Contains(frontend) ? RebuildReason.ContestedFrontend : RebuildReason.Unexpected, out reason);
                    if (counts is { } c && c != (value.BackendCount, value.LocalCount))
                        return Fail(RebuildReason.Unexpected, out reason);
                    counts = (value.BackendCount, value.LocalCount);
                    current.Frontends[frontend] = value;
                }
                var existing = new List<KeyValuePair<NatBackendKey, NatBackendValue4>>();
                if (!Collect(view, current, existing, id, 0, counts!.Value.Cluster) ||
                    !Collect(view, current, existing, id, NatFrontendValue.LocalOrdinalBase, counts.Value.Local))
                    return Fail(RebuildReason.Unexpected, out reason); // more or fewer backends than counted
                existingOf[id] = existing;
                oldPorts.Add(new OldPort(before, key, id));
            }
        }

        // What they want: each frontend key must be free, theirs already, or released by another changed Service.
        var newPorts = new List<NewPort>();
        var newFrontends = new List<FrontendEntry>();
        var claimed = new HashSet<NatFrontendKey4>();
        var ownProblems = new List<string>[changed.Length];
        for (var s = 0; s < changed.Length; s++)
        {
            if (!snapshot.Services.TryGetValue(changed[s], out var after))
                continue;
            var own = ownProblems[s] = [];
            if (ExternalModes.Problem(after) is { } badMode)
                own.Add(badMode);
            foreach (var port in DesiredStateBuilder.SortedPorts(after))
            {
                var first = newFrontends.Count;
                Frontends.Add(after, port, context, newFrontends, own);
                if (newFrontends.Count == first)
                    continue;
                var key = DesiredStateBuilder.KeyOf(after, port);
                if (newPorts.Count > 0 && newPorts[^1].Key == key)
                    return Fail(RebuildReason.Unexpected, out reason); // a port repeated (ports are in key order)
                for (var f = first; f < newFrontends.Count; f++)
                {
                    var frontend = newFrontends[f].Key;
                    if (contested.Contains(frontend))
                    {
                        if (!unchanged[s])
                            return Fail(RebuildReason.ContestedFrontend, out reason);
                        continue; // an unchanged Service's key it won (checked above): the same claimants as before
                    }
                    if (!claimed.Add(frontend) || (view.Frontends.ContainsKey(frontend) && !current.Frontends.ContainsKey(frontend)))
                        return Fail(RebuildReason.ContestedFrontend, out reason); // two changed ports want it, or an unchanged one holds it
                }
                newPorts.Add(new NewPort(after, changed[s], port, key, first, newFrontends.Count - first));
            }
        }

        // Decided: the ids of ports that are gone are released before new ones are allocated (as a rebuild does); a
        // released id's entries are still in the maps until this pass deletes them, so no new port gets it.
        var newKeys = new HashSet<ServicePortKey>(newPorts.Count);
        foreach (var port in newPorts)
            newKeys.Add(port.Key);
        var released = new HashSet<uint>();
        foreach (var (_, key, id) in oldPorts)
            if (!newKeys.Contains(key))
            {
                ids.Release(key);
                released.Add(id);
            }
        Func<uint, bool>? takenInMaps = released.Count == 0 ? null : released.Contains;

        var desired = new NatMapContents(newFrontends.Count, 8);
        var owners = new Dictionary<uint, ServicePortKey>(newPorts.Count);
        var sets = new BackendSets();
        foreach (var (service, serviceKey, port, key, first, count) in newPorts)
        {
            var id = ids.GetOrAllocate(key, takenInMaps);
            owners[id] = key;
            sets.Select(service, port, snapshot.SlicesFor(serviceKey), context.Node);
            var existing = existingOf.TryGetValue(id, out var entries) ? CollectionsMarshal.AsSpan(entries) : default;
            var (cluster, local) = DesiredStateBuilder.PlaceSets(id, existing, sets, desired);
            for (var f = first; f < first + count; f++)
            {
                var (frontend, kind) = newFrontends[f];
                desired.Frontends.TryAdd(frontend, Frontends.Value(service, kind, id, (uint)cluster, (uint)local, sets.FlagsFor(kind)));
            }
        }
        for (var s = 0; s < changed.Length; s++)
            problems.SetOwn(changed[s], (IReadOnlyList<string>?)ownProblems[s] ?? []);

        var touchedIds = new HashSet<uint>(owners.Keys);
        touchedIds.UnionWith(released);
        var touchedFrontends = new HashSet<NatFrontendKey4>(current.Frontends.Keys);
        touchedFrontends.UnionWith(desired.Frontends.Keys);
        return new PartialSync(MapDiff.Compute(desired, current), owners, touchedIds, problems.List(), touchedFrontends,
            anyServiceChanged ? Side(oldPorts, newPorts, owners, released, ids) : null);
    }

    /// <summary>The side maps' delta: what <see cref="SideEntries.Of"/> gives the new ports, and what it gave the old ones that is gone.</summary>
    private static SideDelta Side(List<OldPort> oldPorts, List<NewPort> newPorts, Dictionary<uint, ServicePortKey> owners, HashSet<uint> released,
        ServiceIdAllocator ids)
    {
        var ranges = new Dictionary<LbSourceRangeKey4, LbSourceRangeValue>();
        var names = new Dictionary<uint, ServiceName>(owners.Count);
        foreach (var (id, key) in owners)
            names[id] = new ServiceName(key.Namespace, key.Name, key.PortName, DesiredStateBuilder.ToL4(key.Protocol));
        foreach (var port in newPorts)
            if (ids.TryGet(port.Key, out var id))
                AddRanges(port.Service, id, ranges);
        var stale = new List<LbSourceRangeKey4>();
        var old = new Dictionary<LbSourceRangeKey4, LbSourceRangeValue>();
        foreach (var port in oldPorts)
            AddRanges(port.Service, port.Id, old);
        foreach (var key in old.Keys)
            if (!ranges.ContainsKey(key))
                stale.Add(key);
        return new SideDelta(ranges, stale, names, [.. released]);
    }

    private static void AddRanges(Service service, uint id, Dictionary<LbSourceRangeKey4, LbSourceRangeValue> into)
    {
        if (service.Type != ServiceType.LoadBalancer)
            return;
        foreach (var range in service.LoadBalancerSourceRanges)
            if (range.BaseAddress.AddressFamily == AddressFamily.InterNetwork)
                into[new LbSourceRangeKey4(id, range)] = default;
    }

    private static PartialSync? Fail(RebuildReason why, out RebuildReason reason)
    {
        reason = why;
        return null;
    }

    /// <summary>
    /// Adds the id's backends at <paramref name="first"/> + [0, count) from the view to <paramref name="existing"/> (and to
    /// <paramref name="current"/>); false when one is missing or one more than counted is there.
    /// </summary>
    private static bool Collect(NatMapContents view, NatMapContents current, List<KeyValuePair<NatBackendKey, NatBackendValue4>> existing,
        uint id, uint first, uint count)
    {
        for (uint i = 0; i < count; i++)
        {
            var backendKey = new NatBackendKey(id, first + i);
            if (!view.Backends.TryGetValue(backendKey, out var backend))
                return false;
            existing.Add(new KeyValuePair<NatBackendKey, NatBackendValue4>(backendKey, backend));
            current.Backends[backendKey] = backend;
        }
        return !view.Backends.ContainsKey(new NatBackendKey(id, first + count));
    }
}
