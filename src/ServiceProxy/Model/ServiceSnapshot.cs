using System.Collections.Immutable;

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

    public static ServiceSnapshot Create(IEnumerable<Service> services, IEnumerable<EndpointSlice> slices)
    {
        var serviceMap = ImmutableSortedDictionary.CreateBuilder<ObjectKey, Service>();
        foreach (var service in services)
            serviceMap[service.Key] = service;
        var sliceMap = slices
            .GroupBy(slice => slice.ServiceKey)
            .ToImmutableSortedDictionary(
                group => group.Key,
                group => group.OrderBy(slice => slice.Name, StringComparer.Ordinal).ToImmutableArray());
        return new ServiceSnapshot(serviceMap.ToImmutable(), sliceMap);
    }
}
