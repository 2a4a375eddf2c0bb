using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Net.Sockets;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Tests.Sync.Reference;

/// <summary>
/// The rebuild as it was written before it was made fast (LINQ, a collection per Service, comparers): desired state,
/// ordinal placement and diff, kept only as the oracle that <see cref="RebuildEquivalenceTests"/> compares the
/// production code against. Deliberately plain; not to be optimised.
/// </summary>
internal static class PreviousRebuild
{
    /// <summary>What <see cref="ServiceSnapshot.Create"/> made: the two sorted maps.</summary>
    public static (ImmutableSortedDictionary<ObjectKey, Service> Services, ImmutableSortedDictionary<ObjectKey, ImmutableArray<EndpointSlice>> SlicesByService)
        Snapshot(IEnumerable<Service> services, IEnumerable<EndpointSlice> slices)
    {
        var serviceMap = ImmutableSortedDictionary.CreateBuilder<ObjectKey, Service>();
        foreach (var service in services)
            serviceMap[service.Key] = service;
        var sliceMap = slices
            .GroupBy(slice => slice.ServiceKey)
            .ToImmutableSortedDictionary(
                group => group.Key,
                group => group.OrderBy(slice => slice.Name, StringComparer.Ordinal).ToImmutableArray());
        return (serviceMap.ToImmutable(), sliceMap);
    }

    public static DesiredState Build(ServiceSnapshot snapshot, ServiceIdAllocator ids, NatMapContents current)
    {
        var problems = new List<string>();
        var ports = snapshot.Services.Values
            .SelectMany(service => service.Ports.Select(port => (Service: service, Port: port, Key: DesiredStateBuilder.KeyOf(service, port))))
            .Select(entry => (entry.Service, entry.Port, entry.Key, Frontends: FrontendKeys(entry.Service, entry.Port)))
            .Where(entry => entry.Frontends.Count > 0)
            .OrderBy(entry => entry.Key)
            .ToList();

        foreach (var (_, _, key, frontends) in ports)
        {
            if (ids.TryGet(key, out _))
                continue;
            foreach (var frontend in frontends)
                if (current.Frontends.TryGetValue(frontend, out var existing) && ids.TryAdopt(key, existing.ServiceId))
                    break;
        }
        ids.RetainOnly(ports.Select(entry => entry.Key).ToHashSet());

        var idsInMaps = current.Frontends.Values.Select(value => value.ServiceId)
            .Concat(current.Backends.Keys.Select(key => key.ServiceId))
            .ToHashSet();
        var currentBackendsById = current.Backends
            .GroupBy(pair => pair.Key.ServiceId)
            .ToDictionary(group => group.Key, group => (IReadOnlyDictionary<uint, NatBackendValue4>)group.ToDictionary(pair => pair.Key.Ordinal, pair => pair.Value));
        var desired = NatMapContents.Empty;
        var owners = new Dictionary<uint, ServicePortKey>();
        foreach (var (service, port, key, frontends) in ports)
        {
            var id = ids.GetOrAllocate(key, candidate => idsInMaps.Contains(candidate));
            owners[id] = key;

            var backends = Assign(currentBackendsById.GetValueOrDefault(id) ?? new Dictionary<uint, NatBackendValue4>(), ReadyBackends(snapshot, service, port));
            for (var ordinal = 0; ordinal < backends.Length; ordinal++)
                desired.Backends[new NatBackendKey(id, (uint)ordinal)] = backends[ordinal];

            var value = service.SessionAffinity == SessionAffinity.ClientIP
                ? new NatFrontendValue(id, (uint)backends.Length, FrontendFlags.Affinity, (uint)service.SessionAffinityTimeoutSeconds)
                : new NatFrontendValue(id, (uint)backends.Length);
            foreach (var frontend in frontends)
            {
                if (desired.Frontends.TryGetValue(frontend, out var claimed))
                {
                    problems.Add($"{frontend} is claimed by {owners[claimed.ServiceId]} and {key}; {key} is not programmed there");
                    continue;
                }
                desired.Frontends[frontend] = value;
            }
        }
        return new DesiredState(desired, owners, problems);
    }

    public static NatBackendValue4[] Assign(IReadOnlyDictionary<uint, NatBackendValue4> current, IReadOnlyCollection<NatBackendValue4> desired)
    {
        var count = desired.Count;
        var wanted = desired.ToHashSet();
        var placed = new NatBackendValue4?[count];
        var kept = new HashSet<NatBackendValue4>();
        var beyondEnd = new List<(uint Ordinal, NatBackendValue4 Value)>();

        foreach (var (ordinal, value) in current.OrderBy(pair => pair.Key))
        {
            if (!wanted.Contains(value) || !kept.Add(value))
                continue;
            if (ordinal < count)
                placed[ordinal] = value;
            else
                beyondEnd.Add((ordinal, value));
        }

        var fillers = new Queue<NatBackendValue4>(
            beyondEnd.OrderByDescending(entry => entry.Ordinal).Select(entry => entry.Value)
                .Concat(desired.Where(value => !kept.Contains(value)).OrderBy(value => value, BackendOrder.Instance)));
        var result = new NatBackendValue4[count];
        for (var ordinal = 0; ordinal < count; ordinal++)
            result[ordinal] = placed[ordinal] ?? fillers.Dequeue();
        return result;
    }

    public static IReadOnlyList<MapWrite> Diff(NatMapContents desired, NatMapContents current)
    {
        var writes = new List<MapWrite>();
        writes.AddRange(desired.Backends
            .Where(pair => !current.Backends.TryGetValue(pair.Key, out var existing) || existing != pair.Value)
            .OrderBy(pair => pair.Key.ServiceId).ThenBy(pair => pair.Key.Ordinal)
            .Select(pair => new UpsertBackend(pair.Key, pair.Value)));
        writes.AddRange(desired.Frontends
            .Where(pair => !current.Frontends.TryGetValue(pair.Key, out var existing) || existing != pair.Value)
            .OrderBy(pair => pair.Key, FrontendKeyOrder.Instance)
            .Select(pair => new UpsertFrontend(pair.Key, pair.Value)));
        writes.AddRange(current.Frontends
            .Where(pair => !desired.Frontends.ContainsKey(pair.Key))
            .OrderBy(pair => pair.Key, FrontendKeyOrder.Instance)
            .Select(pair => new DeleteFrontend(pair.Key, pair.Value.ServiceId)));
        writes.AddRange(current.Backends.Keys
            .Where(key => !desired.Backends.ContainsKey(key))
            .OrderBy(key => key.ServiceId).ThenByDescending(key => key.Ordinal)
            .Select(key => new DeleteBackend(key)));
        return writes;
    }

    private static List<NatFrontendKey4> FrontendKeys(Service service, ServicePort port) =>
        service.ClusterIPs
            .Where(ip => ip.AddressFamily == AddressFamily.InterNetwork)
            .Select(ip => new NatFrontendKey4(ip, (ushort)port.Port, DesiredStateBuilder.ToL4(port.Protocol)))
            .ToList();

    private static List<NatBackendValue4> ReadyBackends(ServiceSnapshot snapshot, Service service, ServicePort port)
    {
        var backends = new HashSet<NatBackendValue4>();
        foreach (var slice in snapshot.SlicesFor(service.Key))
        {
            if (slice.AddressType != AddressType.IPv4)
                continue;
            var targetPort = port.TargetPort.Number ?? slice.Ports
                .FirstOrDefault(slicePort => slicePort.Name == port.Name && slicePort.Protocol == port.Protocol && slicePort.Port is not null)
                ?.Port;
            if (targetPort is null)
                continue;
            foreach (var endpoint in slice.Endpoints)
                if (endpoint.Conditions.IsReady && endpoint.Addresses.Count > 0)
                    backends.Add(new NatBackendValue4(endpoint.Addresses[0], (ushort)targetPort.Value));
        }
        return backends.ToList();
    }

    private static uint HostOrder(uint nbo) => BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(nbo) : nbo;

    private sealed class BackendOrder : IComparer<NatBackendValue4>
    {
        public static readonly BackendOrder Instance = new();

        public int Compare(NatBackendValue4 x, NatBackendValue4 y)
        {
            var byAddress = HostOrder(x.AddressNbo).CompareTo(HostOrder(y.AddressNbo));
            return byAddress != 0 ? byAddress : x.Port.CompareTo(y.Port);
        }
    }

    private sealed class FrontendKeyOrder : IComparer<NatFrontendKey4>
    {
        public static readonly FrontendKeyOrder Instance = new();

        public int Compare(NatFrontendKey4 x, NatFrontendKey4 y)
        {
            var order = HostOrder(x.VipNbo).CompareTo(HostOrder(y.VipNbo));
            if (order == 0) order = x.Port.CompareTo(y.Port);
            return order != 0 ? order : x.Protocol.CompareTo(y.Protocol);
        }
    }
}
