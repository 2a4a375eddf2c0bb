using System.Collections.Immutable;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// Snapshot -> desired NAT map entries. For each port of each Service: its frontends (<see cref="Frontends"/>:
/// ClusterIPs, NodePorts on the node's addresses, LoadBalancer and external IPs; svc id, backend count, affinity,
/// kind), and the ready IPv4 endpoints of its slices as
/// backends, deduplicated, placed by <see cref="BackendOrdinals"/> so existing ones stay put.
/// Backend port: a numeric targetPort as written; a named one resolved by each slice's port
/// carrying the Service port's name and protocol (a slice without it contributes nothing).
/// Endpoints are balanced to their first address, as kube-proxy does.
/// Service ports are visited in <see cref="ServicePortKey"/> order, so new ids are handed out in that order.
/// This runs over every Service on each full sync: its loops allocate per Service only what it returns.
/// </summary>
public static class DesiredStateBuilder
{
    /// <summary>A programmed service port: its frontends are <c>FrontendCount</c> keys from <c>FirstFrontend</c> in the shared list.</summary>
    private readonly record struct PortEntry(Service Service, ServicePort Port, ServicePortKey Key, ImmutableArray<EndpointSlice> Slices,
        int FirstFrontend, int FrontendCount);

    public static DesiredState Build(ServiceSnapshot snapshot, ServiceIdAllocator ids, NatMapContents current, FrontendContext? context = null)
    {
        var problems = new ProblemIndex();
        var frontendKeys = new List<FrontendEntry>(snapshot.Services.Count);
        var ports = ProgrammedPorts(snapshot, frontendKeys, context ?? FrontendContext.None, problems);

        // Adopt ids before allocating any, so a new port cannot take an id a restarted one still owns.
        AdoptAndRelease(ports, frontendKeys, ids, current);

        // An id in the maps but not owned by any live port belongs to entries about to be deleted; the set of them
        // is only needed (and so only built) when some port needs a new id.
        HashSet<uint>? idsInMaps = null;
        var takenInMaps = (Func<uint, bool>)(candidate => (idsInMaps ??= IdsIn(current)).Contains(candidate));
        ids.EnsureCapacity(ports.Count);
        var currentBackends = BackendsByService.Index(current.Backends);
        var desired = new NatMapContents(frontendKeys.Count, Math.Max(current.Backends.Count, EndpointCount(snapshot)));
        var owners = new Dictionary<uint, ServicePortKey>(ports.Count);
        var sets = new BackendSets();
        var node = (context ?? FrontendContext.None).Node;
        foreach (var (service, port, key, slices, first, count) in ports)
        {
            var id = ids.GetOrAllocate(key, takenInMaps);
            owners[id] = key;

            sets.Select(service, port, slices, node);
            var (backends, local) = PlaceSets(id, currentBackends.Of(id), sets, desired);

            for (var f = first; f < first + count; f++)
            {
                var (frontend, kind) = frontendKeys[f];
                if (desired.Frontends.TryGetValue(frontend, out var claimed))
                {
                    problems.AddConflict(key.Service, frontend, Conflict(frontend, owners[claimed.ServiceId], key));
                    continue;
                }
                desired.Frontends[frontend] = Frontends.Value(service, kind, id, (uint)backends, (uint)local, sets.FlagsFor(kind));
            }
        }
        return new DesiredState(desired, owners, problems.List()) { Index = problems };
    }

    /// <summary>The problem of a frontend that <paramref name="loser"/> wants and <paramref name="holder"/> (earlier in port order) holds.</summary>
    internal static string Conflict(NatFrontendKey4 frontend, ServicePortKey holder, ServicePortKey loser) =>
        $"{frontend} is claimed by {holder} and {loser}; {loser} is not programmed there";

    /// <summary>
    /// Places both sets of an id (<see cref="BackendOrdinals.Place"/> in each range, so each keeps its ordinals) into
    /// <paramref name="desired"/>; returns the two counts. <paramref name="existing"/>: the id's entries in ordinal order.
    /// </summary>
    internal static (int Cluster, int Local) PlaceSets(uint id, ReadOnlySpan<KeyValuePair<NatBackendKey, NatBackendValue4>> existing,
        BackendSets sets, NatMapContents desired)
    {
        var split = 0;
        while (split < existing.Length && existing[split].Key.Ordinal < NatFrontendValue.LocalOrdinalBase)
            split++;
        var cluster = BackendOrdinals.Place(existing[..split], CollectionsMarshal.AsSpan(sets.Cluster));
        for (var ordinal = 0; ordinal < cluster.Length; ordinal++)
            desired.Backends[new NatBackendKey(id, (uint)ordinal)] = cluster[ordinal];
        if (sets.Local.Count == 0 && split == existing.Length)
            return (cluster.Length, 0);
        var rebased = new KeyValuePair<NatBackendKey, NatBackendValue4>[existing.Length - split];
        for (var i = 0; i < rebased.Length; i++)
        {
            var (key, value) = existing[split + i];
            rebased[i] = new(new NatBackendKey(id, key.Ordinal - NatFrontendValue.LocalOrdinalBase), value);
        }
        var local = BackendOrdinals.Place(rebased, CollectionsMarshal.AsSpan(sets.Local));
        for (var ordinal = 0; ordinal < local.Length; ordinal++)
            desired.Backends[new NatBackendKey(id, NatFrontendValue.LocalOrdinalBase + (uint)ordinal)] = local[ordinal];
        return (cluster.Length, local.Length);
    }

    /// <summary>
    /// Gives each port without an id the id of its frontend found in the maps (a restart), then releases the ids of
    /// service ports that are gone.
    /// </summary>
    private static void AdoptAndRelease(List<PortEntry> ports, List<FrontendEntry> frontendKeys, ServiceIdAllocator ids, NatMapContents current)
    {
        var liveWithId = 0;
        for (var i = 0; i < ports.Count; i++)
        {
            var (_, _, key, _, first, count) = ports[i];
            if (ids.TryGet(key, out _))
            {
                // The same service port twice (ports are in key order, so repeats are adjacent) is counted once.
                if (i == 0 || ports[i - 1].Key != key)
                    liveWithId++;
                continue;
            }
            for (var f = first; f < first + count; f++)
                if (current.Frontends.TryGetValue(frontendKeys[f].Key, out var existing) && ids.TryAdopt(key, existing.ServiceId))
                {
                    liveWithId++;
                    break;
                }
        }
        // Only when the allocator holds ids beyond the live ports' is there anything to release.
        if (ids.Assignments.Count > liveWithId)
            ids.RetainOnly(ports.Select(entry => entry.Key).ToHashSet());
    }

    /// <summary>The service ports that have an IPv4 frontend, in key order; their frontends appended to <paramref name="frontendKeys"/>.</summary>
    private static List<PortEntry> ProgrammedPorts(ServiceSnapshot snapshot, List<FrontendEntry> frontendKeys, FrontendContext context,
        ProblemIndex index)
    {
        var problems = new List<string>();
        var ports = new List<PortEntry>(snapshot.Services.Count);
        // Services and slices are both sorted by the Service's namespace/name: walked side by side, each Service finds
        // its slices without a lookup. That order is also ServicePortKey's leading fields, so only each Service's own
        // ports need ordering (by name, then protocol; stable, as ServicePortKey orders them).
        using var slicesByService = snapshot.SlicesByService.GetEnumerator();
        var moreSlices = slicesByService.MoveNext();
        foreach (var (serviceKey, service) in snapshot.Services)
        {
            while (moreSlices && slicesByService.Current.Key.CompareTo(serviceKey) < 0)
                moreSlices = slicesByService.MoveNext(); // slices of a Service that is absent
            var slices = moreSlices && slicesByService.Current.Key == serviceKey ? slicesByService.Current.Value : [];
            if (ExternalModes.Problem(service) is { } badMode)
                problems.Add(badMode); // reported once per Service; its frontends get the node's default mode
            if (service.Ports.Count == 1)
                Add(service, service.Ports[0], slices);
            else
                foreach (var port in SortedPorts(service))
                    Add(service, port, slices);
            if (problems.Count > 0)
            {
                index.SetOwn(serviceKey, problems);
                problems.Clear();
            }
        }
        return ports;

        void Add(Service service, ServicePort port, ImmutableArray<EndpointSlice> slices)
        {
            var first = frontendKeys.Count;
            Frontends.Add(service, port, context, frontendKeys, problems);
            if (frontendKeys.Count > first) // IPv6-only for now: nothing to program
                ports.Add(new PortEntry(service, port, KeyOf(service, port), slices, first, frontendKeys.Count - first));
        }
    }

    /// <summary>The Service's ports in <see cref="ServicePortKey"/> order (by name, then protocol; stable).</summary>
    internal static IEnumerable<ServicePort> SortedPorts(Service service) =>
        service.Ports.Count == 1 ? service.Ports : service.Ports.OrderBy(port => port.Name, StringComparer.Ordinal).ThenBy(port => port.Protocol);

    /// <summary>The endpoints of all slices: about the number of backends (a capacity hint, one walk over the slices).</summary>
    private static int EndpointCount(ServiceSnapshot snapshot)
    {
        var count = 0;
        foreach (var slices in snapshot.SlicesByService.Values)
            foreach (var slice in slices)
                count += slice.Endpoints.Count;
        return count;
    }

    private static HashSet<uint> IdsIn(NatMapContents current)
    {
        var ids = new HashSet<uint>(current.Frontends.Count);
        foreach (var value in current.Frontends.Values)
            ids.Add(value.ServiceId);
        foreach (var key in current.Backends.Keys)
            ids.Add(key.ServiceId);
        return ids;
    }

    public static ServicePortKey KeyOf(Service service, ServicePort port) =>
        new(service.Namespace, service.Name, port.Name, port.Protocol);

    public static L4Protocol ToL4(Protocol protocol) => protocol switch
    {
        Protocol.Tcp => L4Protocol.Tcp,
        Protocol.Udp => L4Protocol.Udp,
        Protocol.Sctp => L4Protocol.Sctp,
        _ => throw new ArgumentOutOfRangeException(nameof(protocol), protocol, null),
    };

}
