using System.Collections.Immutable;
using System.Runtime.InteropServices;

namespace ProxyReplacement.ServiceProxy.Model;

/// <summary>
/// The immutable state the Syncer works from: every proxied Service and the EndpointSlices that
/// name it. A slice whose Service is absent is kept (the Service may arrive later) but unused.
/// </summary>
public sealed class ServiceSnapshot
{
    public static readonly ServiceSnapshot Empty = new(
        ImmutableSortedDictionary<ObjectKey, Service>.Empty,
        ImmutableSortedDictionary<ObjectKey, ImmutableArray<EndpointSlice>>.Empty);

    private ServiceSnapshot(
        ImmutableSortedDictionary<ObjectKey, Service> services,
        ImmutableSortedDictionary<ObjectKey, ImmutableArray<EndpointSlice>> slicesByService)
    {
        Services = services;
        SlicesByService = slicesByService;
    }

    /// <summary>Services by namespace/name, sorted.</summary>
    public ImmutableSortedDictionary<ObjectKey, Service> Services { get; }

    /// <summary>Slices by the namespace/name of their Service, each list sorted by slice name.</summary>
    public ImmutableSortedDictionary<ObjectKey, ImmutableArray<EndpointSlice>> SlicesByService { get; }

    public ImmutableArray<EndpointSlice> SlicesFor(ObjectKey service) =>
        SlicesByService.TryGetValue(service, out var slices) ? slices : ImmutableArray<EndpointSlice>.Empty;

    /// <summary>
    /// This snapshot with the given changes applied (Current null = deleted): equal to <see cref="Create"/> of the
    /// resulting objects, at a cost that grows with the number of changes rather than the number of objects.
    /// </summary>
    public ServiceSnapshot With(IEnumerable<Tracking.ObjectChange<Service>> services, IEnumerable<Tracking.ObjectChange<EndpointSlice>> slices)
    {
        var serviceMap = Services.ToBuilder();
        foreach (var change in services)
        {
            if (change.Current is null)
                serviceMap.Remove(change.Key);
            else
                serviceMap[change.Key] = change.Current;
        }
        var sliceMap = SlicesByService.ToBuilder();
        foreach (var change in slices)
        {
            if (change.Previous is { } old)
                RemoveSlice(sliceMap, old.ServiceKey, old.Name);
            if (change.Current is { } current)
            {
                RemoveSlice(sliceMap, current.ServiceKey, current.Name);
                var list = sliceMap.TryGetValue(current.ServiceKey, out var existing) ? existing : ImmutableArray<EndpointSlice>.Empty;
                var at = 0;
                while (at < list.Length && string.CompareOrdinal(list[at].Name, current.Name) < 0)
                    at++;
                sliceMap[current.ServiceKey] = list.Insert(at, current);
            }
        }
        return new ServiceSnapshot(serviceMap.ToImmutable(), sliceMap.ToImmutable());
    }

    private static void RemoveSlice(ImmutableSortedDictionary<ObjectKey, ImmutableArray<EndpointSlice>>.Builder map, ObjectKey service, string name)
    {
        if (!map.TryGetValue(service, out var list))
            return;
        var at = 0;
        while (at < list.Length && list[at].Name != name)
            at++;
        if (at == list.Length)
            return;
        var remaining = list.RemoveAt(at);
        if (remaining.IsEmpty)
            map.Remove(service);
        else
            map[service] = remaining;
    }

    public static ServiceSnapshot Create(IEnumerable<Service> services, IEnumerable<EndpointSlice> slices)
    {
        var serviceMap = ImmutableSortedDictionary.CreateBuilder<ObjectKey, Service>();
        foreach (var service in services)
            serviceMap[service.Key] = service;

        // Group by Service first (hashing), then sort once into the tree. Almost every Service has one slice, so a
        // group holds its first slice inline and a list only from the second on.
        var groups = new Dictionary<ObjectKey, (EndpointSlice First, List<EndpointSlice>? More)>(
            slices.TryGetNonEnumeratedCount(out var count) ? count : 0);
        foreach (var slice in slices)
        {
            ref var group = ref CollectionsMarshal.GetValueRefOrAddDefault(groups, slice.ServiceKey, out var exists);
            if (!exists)
                group.First = slice;
            else
                (group.More ??= []).Add(slice);
        }
        var sliceMap = ImmutableSortedDictionary.CreateBuilder<ObjectKey, ImmutableArray<EndpointSlice>>();
        foreach (var (service, (first, more)) in groups)
            sliceMap[service] = more is null ? [first] : [.. more.Prepend(first).OrderBy(slice => slice.Name, StringComparer.Ordinal)];
        return new ServiceSnapshot(serviceMap.ToImmutable(), sliceMap.ToImmutable());
    }
}
