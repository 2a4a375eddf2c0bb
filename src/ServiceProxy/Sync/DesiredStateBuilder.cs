using System.Net.Sockets;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// Snapshot -> desired NAT map entries. For each port of each Service: one frontend per IPv4
/// ClusterIP (svc id, backend count, affinity), and the ready IPv4 endpoints of its slices as
/// backends, deduplicated, placed by <see cref="BackendOrdinals"/> so existing ones stay put.
/// Backend port: a numeric targetPort as written; a named one resolved by each slice's port
/// carrying the Service port's name and protocol (a slice without it contributes nothing).
/// Endpoints are balanced to their first address, as kube-proxy does.
/// </summary>
public static class DesiredStateBuilder
{
    public static DesiredState Build(ServiceSnapshot snapshot, ServiceIdAllocator ids, NatMapContents current)
    {
        var problems = new List<string>();
        var ports = snapshot.Services.Values
            .SelectMany(service => service.Ports.Select(port => (Service: service, Port: port, Key: KeyOf(service, port))))
            .Select(entry => (entry.Service, entry.Port, entry.Key, Frontends: FrontendKeys(entry.Service, entry.Port)))
            .Where(entry => entry.Frontends.Count > 0) // IPv6-only for now: nothing to program
            .OrderBy(entry => entry.Key)
            .ToList();

        // Adopt ids before allocating any, so a new port cannot take an id a restarted one still owns.
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
            // An id in the maps but not owned by any live port belongs to entries about to be deleted.
            var id = ids.GetOrAllocate(key, candidate => idsInMaps.Contains(candidate));
            owners[id] = key;

            var backends = BackendOrdinals.Assign(
                currentBackendsById.GetValueOrDefault(id) ?? new Dictionary<uint, NatBackendValue4>(), ReadyBackends(snapshot, service, port));
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

    public static ServicePortKey KeyOf(Service service, ServicePort port) =>
        new(service.Namespace, service.Name, port.Name, port.Protocol);

    public static L4Protocol ToL4(Protocol protocol) => protocol switch
    {
        Protocol.Tcp => L4Protocol.Tcp,
        Protocol.Udp => L4Protocol.Udp,
        Protocol.Sctp => L4Protocol.Sctp,
        _ => throw new ArgumentOutOfRangeException(nameof(protocol), protocol, null),
    };

    internal static List<NatFrontendKey4> FrontendKeys(Service service, ServicePort port) =>
        service.ClusterIPs
            .Where(ip => ip.AddressFamily == AddressFamily.InterNetwork)
            .Select(ip => new NatFrontendKey4(ip, (ushort)port.Port, ToL4(port.Protocol)))
            .ToList();

    internal static List<NatBackendValue4> ReadyBackends(ServiceSnapshot snapshot, Service service, ServicePort port)
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
}
