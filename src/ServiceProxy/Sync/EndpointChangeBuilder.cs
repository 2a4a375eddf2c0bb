using System.Runtime.InteropServices;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>The writes of an endpoint-only change, the owners of the ids they touch, and those ids.</summary>
public sealed record PartialSync(IReadOnlyList<MapWrite> Writes, IReadOnlyDictionary<uint, ServicePortKey> Owners, IReadOnlySet<uint> Ids);

/// <summary>
/// The fast path of an incremental sync: when only the EndpointSlices of some Services changed (each changed
/// Service exists before and after, unchanged itself) and the previous sync left the maps exactly as desired,
/// the desired entries of just those Services are rebuilt (with the same rules as <see cref="DesiredStateBuilder"/>:
/// <see cref="BackendSets"/> selection, <see cref="BackendOrdinals"/> placement in each range) and diffed against their current entries.
/// The writes equal what a full rebuild would produce, at a cost that grows with the change, not the cluster.
/// Returns null whenever that cannot be guaranteed; the caller then rebuilds everything.
/// </summary>
public static class EndpointChangeBuilder
{
    /// <param name="clean">The snapshot the previous sync applied without any problem (the maps hold exactly its desired state).</param>
    public static PartialSync? TryBuild(ServiceSnapshot clean, ServiceSnapshot snapshot, IReadOnlySet<ObjectKey> changedServices,
        ServiceIdAllocator ids, NatMapContents view, FrontendContext? context = null)
    {
        var desired = NatMapContents.Empty;
        var current = NatMapContents.Empty;
        var owners = new Dictionary<uint, ServicePortKey>();
        var frontends = new List<FrontendEntry>();
        var existing = new List<KeyValuePair<NatBackendKey, NatBackendValue4>>();
        var sets = new BackendSets();
        var node = (context ?? FrontendContext.None).Node;
        foreach (var serviceKey in changedServices)
        {
            if (!clean.Services.TryGetValue(serviceKey, out var before) || !snapshot.Services.TryGetValue(serviceKey, out var service) ||
                !before.Equals(service))
                return null; // a Service added, deleted or edited: ids, frontends and conflicts may move
            foreach (var port in service.Ports)
            {
                var key = DesiredStateBuilder.KeyOf(service, port);
                frontends.Clear();
                Frontends.Add(service, port, context ?? FrontendContext.None, frontends, problems: null);
                if (frontends.Count == 0)
                    continue; // not programmed (IPv6 only)
                if (!ids.TryGet(key, out var id))
                    return null;
                // Every frontend of this port must be this id's in the maps, with one pair of counts (else a conflict lost it).
                (uint Cluster, uint Local)? counts = null;
                foreach (var (frontend, _) in frontends)
                {
                    if (!view.Frontends.TryGetValue(frontend, out var value) || value.ServiceId != id ||
                        (counts is { } c && c != (value.BackendCount, value.LocalCount)))
                        return null;
                    counts = (value.BackendCount, value.LocalCount);
                    current.Frontends[frontend] = value;
                }
                existing.Clear();
                if (!Collect(view, current, existing, id, 0, counts!.Value.Cluster) ||
                    !Collect(view, current, existing, id, NatFrontendValue.LocalOrdinalBase, counts.Value.Local))
                    return null; // more or fewer backends than counted: not the clean state this path assumes

                sets.Select(service, port, snapshot.SlicesFor(serviceKey), node);
                var (cluster, local) = DesiredStateBuilder.PlaceSets(id, CollectionsMarshal.AsSpan(existing), sets, desired);
                foreach (var (frontend, kind) in frontends)
                    desired.Frontends[frontend] = Frontends.Value(service, kind, id, (uint)cluster, (uint)local, sets.FlagsFor(kind));
                owners[id] = key;
            }
        }
        return new PartialSync(MapDiff.Compute(desired, current), owners, owners.Keys.ToHashSet());
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
