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
/// ready IPv4 endpoints, <see cref="BackendOrdinals"/> placement) and diffed against their current entries.
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
        var ready = new List<NatBackendValue4>();
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
                // Every frontend of this port must be this id's in the maps, with one count (else a conflict lost it).
                uint? count = null;
                foreach (var (frontend, _) in frontends)
                {
                    if (!view.Frontends.TryGetValue(frontend, out var value) || value.ServiceId != id || (count is { } c && c != value.BackendCount))
                        return null;
                    count = value.BackendCount;
                    current.Frontends[frontend] = value;
                }
                existing.Clear();
                for (uint ordinal = 0; ordinal < count; ordinal++)
                {
                    var backendKey = new NatBackendKey(id, ordinal);
                    if (!view.Backends.TryGetValue(backendKey, out var backend))
                        return null;
                    existing.Add(new KeyValuePair<NatBackendKey, NatBackendValue4>(backendKey, backend));
                    current.Backends[backendKey] = backend;
                }
                if (view.Backends.ContainsKey(new NatBackendKey(id, count!.Value)))
                    return null; // more backends than counted: not the clean state this path assumes

                DesiredStateBuilder.ReadyBackends(snapshot.SlicesFor(serviceKey), port, ready);
                var assigned = BackendOrdinals.Place(CollectionsMarshal.AsSpan(existing), CollectionsMarshal.AsSpan(ready));
                for (var ordinal = 0; ordinal < assigned.Length; ordinal++)
                    desired.Backends[new NatBackendKey(id, (uint)ordinal)] = assigned[ordinal];
                foreach (var (frontend, _) in frontends)
                {
                    var old = current.Frontends[frontend];
                    desired.Frontends[frontend] = old.WithCounts((uint)assigned.Length, old.LocalCount);
                }
                owners[id] = key;
            }
        }
        return new PartialSync(MapDiff.Compute(desired, current), owners, owners.Keys.ToHashSet());
    }
}
