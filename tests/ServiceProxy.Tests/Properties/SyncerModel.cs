using System.Net;
using System.Net.Sockets;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Tests.Properties;

/// <summary>What one frontend must do in the model: who owns it, which entry point it is, and the backends it balances to.</summary>
public sealed record ModelFrontend(string Owner, FrontendKind Kind, bool Affinity, uint AffinityTimeout, bool SourceRanges, IReadOnlySet<(IPAddress, ushort)> Backends)
{
    public override string ToString() =>
        $"{Owner} {Kind} affinity={(Affinity ? AffinityTimeout + "s" : "no")} ranges={SourceRanges} -> [{string.Join(", ", Backends.Order().Select(b => $"{b.Item1}:{b.Item2}"))}]";
}

/// <summary>
/// The NAT maps a set of Services and EndpointSlices must produce, written from the semantics and not from the
/// Syncer: for each Service port (Services by namespace/name, their ports by name then protocol), its frontends are
/// each IPv4 ClusterIP on the port; with type NodePort or LoadBalancer and a nodePort in the node's range, the nodePort
/// on each IPv4 node address; each IPv4 LoadBalancer ingress IP in ipMode VIP and each IPv4 external IP that is a
/// unicast address a client can reach, on the port. They balance to the first address of every ready endpoint of the
/// Service's IPv4 slices, on the numeric targetPort or the slice port that has the Service port's name and protocol.
/// A frontend two Service ports want belongs to the first in that order.
/// </summary>
public static class SyncerModel
{
    public static Dictionary<NatFrontendKey4, ModelFrontend> Expected(IEnumerable<Service> services, IEnumerable<EndpointSlice> slices, FrontendContext context)
    {
        var result = new Dictionary<NatFrontendKey4, ModelFrontend>();
        var sliceList = slices.ToList();
        foreach (var service in services.OrderBy(s => s.Namespace, StringComparer.Ordinal).ThenBy(s => s.Name, StringComparer.Ordinal))
        {
            var own = sliceList.Where(s => s.Namespace == service.Namespace && s.ServiceName == service.Name && s.AddressType == AddressType.IPv4).ToList();
            foreach (var port in service.Ports.OrderBy(p => p.Name, StringComparer.Ordinal).ThenBy(p => p.Protocol))
            {
                var backends = new HashSet<(IPAddress, ushort)>();
                foreach (var slice in own)
                {
                    var target = port.TargetPort.Number ??
                                 slice.Ports.FirstOrDefault(p => p.Name == port.Name && p.Protocol == port.Protocol && p.Port is not null)?.Port;
                    if (target is null)
                        continue;
                    foreach (var endpoint in slice.Endpoints.Where(e => (e.Conditions.Ready ?? true) && e.Addresses.Count > 0))
                        backends.Add((endpoint.Addresses[0], (ushort)target.Value));
                }
                var l4 = port.Protocol switch { Protocol.Tcp => L4Protocol.Tcp, Protocol.Udp => L4Protocol.Udp, _ => L4Protocol.Sctp };
                var affinity = service.SessionAffinity == SessionAffinity.ClientIP;
                var ranges = service.LoadBalancerSourceRanges.Any(r => r.BaseAddress.AddressFamily == AddressFamily.InterNetwork);
                var owner = $"{service.Namespace}/{service.Name}:{port.Name}/{port.Protocol}";
                void Claim(IPAddress address, int number, FrontendKind kind)
                {
                    var key = new NatFrontendKey4(address, (ushort)number, l4);
                    result.TryAdd(key, new ModelFrontend(owner, kind, affinity, affinity ? (uint)service.SessionAffinityTimeoutSeconds : 0,
                        kind == FrontendKind.LoadBalancer && ranges, backends));
                }
                foreach (var ip in service.ClusterIPs.Where(IsV4))
                    Claim(ip, port.Port, FrontendKind.ClusterIP);
                if (service.Type is ServiceType.NodePort or ServiceType.LoadBalancer && port.NodePort is { } nodePort &&
                    nodePort >= context.NodePortRange.First && nodePort <= context.NodePortRange.Last)
                    foreach (var address in context.NodePortAddresses.Where(IsV4))
                        Claim(address, nodePort, FrontendKind.NodePort);
                foreach (var ingress in service.LoadBalancerIngress.Where(i => i.IPMode == LoadBalancerIPMode.Vip && IsV4(i.Ip) && Reachable(i.Ip)))
                    Claim(ingress.Ip, port.Port, FrontendKind.LoadBalancer);
                foreach (var ip in service.ExternalIPs.Where(ip => IsV4(ip) && Reachable(ip)))
                    Claim(ip, port.Port, FrontendKind.ExternalIP);
            }
        }
        return result;
    }

    private static bool IsV4(IPAddress ip) => ip.AddressFamily == AddressFamily.InterNetwork;

    /// <summary>A unicast address a client can send to: not 0/8, loopback, link-local, multicast, reserved or broadcast.</summary>
    private static bool Reachable(IPAddress ip)
    {
        var first = ip.GetAddressBytes()[0];
        var second = ip.GetAddressBytes()[1];
        return first is not (0 or 127) && !(first == 169 && second == 254) && first < 224;
    }

    /// <summary>How the maps differ from the model (empty when they agree), comparing each frontend's backend set.</summary>
    public static List<string> Differences(Dictionary<NatFrontendKey4, ModelFrontend> expected,
        IReadOnlyList<KeyValuePair<NatFrontendKey4, NatFrontendValue>> frontends, IReadOnlyList<KeyValuePair<NatBackendKey, NatBackendValue4>> backends)
    {
        var differences = new List<string>();
        var backendMap = backends.ToDictionary(b => b.Key, b => b.Value);
        var actual = frontends.ToDictionary(f => f.Key, f => f.Value);
        foreach (var key in expected.Keys.Except(actual.Keys))
            differences.Add($"missing frontend {key}: {expected[key]}");
        foreach (var key in actual.Keys.Except(expected.Keys))
            differences.Add($"unexpected frontend {key} (svc={actual[key].ServiceId})");
        var idOfOwner = new Dictionary<string, uint>();
        var ownerOfId = new Dictionary<uint, string>();
        foreach (var (key, want) in expected)
        {
            if (!actual.TryGetValue(key, out var value))
                continue;
            var have = new HashSet<(IPAddress, ushort)>();
            for (uint ordinal = 0; ordinal < value.BackendCount; ordinal++)
                if (backendMap.TryGetValue(new NatBackendKey(value.ServiceId, ordinal), out var backend))
                    have.Add((backend.Address, backend.Port));
            if (value.BackendCount != want.Backends.Count || !have.SetEquals(want.Backends))
                differences.Add($"frontend {key}: count {value.BackendCount}, backends [{string.Join(", ", have.Order().Select(b => $"{b.Item1}:{b.Item2}"))}]; expected {want}");
            if (value.Kind != want.Kind || value.Flags.HasFlag(FrontendFlags.Affinity) != want.Affinity || value.AffinityTimeoutSeconds != want.AffinityTimeout ||
                value.Flags.HasFlag(FrontendFlags.SourceRanges) != want.SourceRanges)
                differences.Add($"frontend {key}: kind {value.Kind} flags {value.Flags} affinity {value.AffinityTimeoutSeconds}s; expected {want}");
            // One id per Service port, a different one for each.
            if (idOfOwner.TryGetValue(want.Owner, out var id) && id != value.ServiceId)
                differences.Add($"{want.Owner} has frontends with ids {id} and {value.ServiceId}");
            if (ownerOfId.TryGetValue(value.ServiceId, out var owner) && owner != want.Owner)
                differences.Add($"id {value.ServiceId} serves both {owner} and {want.Owner}");
            idOfOwner[want.Owner] = value.ServiceId;
            ownerOfId[value.ServiceId] = want.Owner;
        }
        // No garbage: a backend entry (of the all-endpoints range) of an id with frontends is counted by them. (An id
        // without any frontend may keep backends: a Service port whose every frontend another one claims still gets its
        // id and backends written, ready for when the conflict goes.)
        var counted = actual.Values.GroupBy(v => v.ServiceId).ToDictionary(g => g.Key, g => g.Max(v => v.BackendCount));
        foreach (var key in backendMap.Keys.Where(k => k.Ordinal < NatFrontendValue.LocalOrdinalBase))
            if (counted.TryGetValue(key.ServiceId, out var count) && key.Ordinal >= count)
                differences.Add($"backend svc={key.ServiceId} #{key.Ordinal} is beyond the count {count} of its frontends");
        return differences;
    }
}
