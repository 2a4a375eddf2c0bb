using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Health;

/// <summary>One Service's health check node port and what it reports: this node's ready endpoints of the Service.</summary>
public sealed record ServiceHealthCheck(int Port, int LocalEndpoints);

/// <summary>
/// The health check node ports a snapshot asks for on this node: one per LoadBalancer Service with an effective
/// <c>externalTrafficPolicy: Local</c> and a <c>healthCheckNodePort</c> (<see cref="EndpointSelection.NeedsHealthCheck"/>),
/// reporting <see cref="EndpointSelection.LocalReadyEndpointCount"/>.
/// </summary>
public static class ServiceHealthChecks
{
    public static IReadOnlyDictionary<ObjectKey, ServiceHealthCheck> Desired(ServiceSnapshot snapshot, string nodeName)
    {
        var desired = new Dictionary<ObjectKey, ServiceHealthCheck>();
        foreach (var (key, service) in snapshot.Services)
        {
            if (!EndpointSelection.NeedsHealthCheck(service))
                continue;
            var slices = snapshot.SlicesByService.TryGetValue(key, out var found) ? found : [];
            desired[key] = new ServiceHealthCheck(service.HealthCheckNodePort!.Value, EndpointSelection.LocalReadyEndpointCount(service, slices, nodeName));
        }
        return desired;
    }
}
