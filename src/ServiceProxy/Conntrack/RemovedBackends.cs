using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Conntrack;

/// <summary>A backend as one frontend reaches it: the flows of that frontend NATed to that backend.</summary>
public readonly record struct FlowTarget(NatFrontendKey4 Frontend, NatBackendValue4 Backend)
{
    public override string ToString() => $"{Frontend} -> {Backend.Address}:{Backend.Port}";
}

/// <summary>
/// Which (frontend, backend) pairs stopped being served between two snapshots, pure: a ready endpoint left its
/// Service (scaled down, no longer ready, slice deleted), or the Service port or the Service itself went away.
/// Only ports of <c>protocols</c> count (UDP by default, as kube-proxy clears conntrack for UDP only: a TCP flow
/// to a gone backend fails on its own with a reset or a timeout, a UDP flow would send into a black hole until
/// its entry expires). Frontends and backends are derived exactly as the Syncer derives them
/// (<see cref="Frontends.Add"/>, <see cref="BackendSets"/>).
/// </summary>
public static class RemovedBackends
{
    public static readonly IReadOnlySet<L4Protocol> DefaultProtocols = new HashSet<L4Protocol> { L4Protocol.Udp };

    /// <param name="changedServices">When known (a tracker commit), only these Services are compared; null compares all.</param>
    /// <param name="context">The node addresses NodePort frontends are on (their flows are purged too).</param>
    public static IReadOnlySet<FlowTarget> Between(ServiceSnapshot previous, ServiceSnapshot current,
        IReadOnlySet<ObjectKey>? changedServices = null, IReadOnlySet<L4Protocol>? protocols = null, FrontendContext? context = null)
    {
        protocols ??= DefaultProtocols;
        var keys = changedServices ?? (IEnumerable<ObjectKey>)previous.Services.Keys;
        var removed = new HashSet<FlowTarget>();
        foreach (var key in keys)
        {
            if (!previous.Services.TryGetValue(key, out var before))
                continue; // new: nothing was served before
            var was = Targets(before, previous.SlicesFor(key), protocols, context);
            if (was.Count == 0)
                continue;
            if (current.Services.TryGetValue(key, out var after))
                was.ExceptWith(Targets(after, current.SlicesFor(key), protocols, context));
            removed.UnionWith(was);
        }
        return removed;
    }

    /// <summary>The protocols whose connected sockets the socket hooks translate, and so may be terminated.</summary>
    public static readonly IReadOnlySet<L4Protocol> SocketProtocols = new HashSet<L4Protocol> { L4Protocol.Tcp, L4Protocol.Udp };

    /// <summary>
    /// Which (frontend, endpoint) pairs stopped existing between two snapshots: an endpoint that was alive (ready, or
    /// terminating and still serving) is gone from the Service port (deleted from its slice, no longer serving, its
    /// slice deleted), or the Service port or the Service went away. Unlike <see cref="Between"/> this ignores which
    /// endpoints the dataplane balances new flows to: an endpoint that starts terminating, or leaves a set for a
    /// topology hint or a traffic policy, keeps its pairs until it is really gone. These are the sockets the socket
    /// terminator aborts (TCP and UDP: <see cref="SocketProtocols"/>): a connection to a terminating pod drains as the
    /// pod decides (graceful termination), and one to a deleted pod is aborted at once instead of hanging, as Cilium
    /// does.
    /// </summary>
    public static IReadOnlySet<FlowTarget> Gone(ServiceSnapshot previous, ServiceSnapshot current,
        IReadOnlySet<ObjectKey>? changedServices = null, IReadOnlySet<L4Protocol>? protocols = null, FrontendContext? context = null)
    {
        protocols ??= SocketProtocols;
        var keys = changedServices ?? (IEnumerable<ObjectKey>)previous.Services.Keys;
        var gone = new HashSet<FlowTarget>();
        foreach (var key in keys)
        {
            if (!previous.Services.TryGetValue(key, out var before))
                continue;
            var was = AliveTargets(before, previous.SlicesFor(key), protocols, context);
            if (was.Count == 0)
                continue;
            if (current.Services.TryGetValue(key, out var after))
                was.ExceptWith(AliveTargets(after, current.SlicesFor(key), protocols, context));
            gone.UnionWith(was);
        }
        return gone;
    }

    /// <summary>
    /// Every (frontend, alive endpoint) pair of the Service's ports in <paramref name="protocols"/>: every IPv4 endpoint
    /// that is ready, or serving while it terminates, whatever the traffic policies and hints select.
    /// </summary>
    public static HashSet<FlowTarget> AliveTargets(Service service, System.Collections.Immutable.ImmutableArray<EndpointSlice> slices,
        IReadOnlySet<L4Protocol> protocols, FrontendContext? context = null)
    {
        var targets = new HashSet<FlowTarget>();
        var frontends = new List<FrontendEntry>();
        var endpoints = new HashSet<NatBackendValue4>();
        foreach (var port in service.Ports)
        {
            if (port.Protocol is not (Protocol.Tcp or Protocol.Udp or Protocol.Sctp) || !protocols.Contains(DesiredStateBuilder.ToL4(port.Protocol)))
                continue;
            frontends.Clear();
            Frontends.Add(service, port, context ?? FrontendContext.None, frontends, problems: null);
            if (frontends.Count == 0)
                continue;
            endpoints.Clear();
            foreach (var slice in slices)
            {
                if (slice.AddressType != AddressType.IPv4)
                    continue;
                var targetPort = port.TargetPort.Number ?? BackendSets.NamedPort(slice, port);
                if (targetPort is null)
                    continue;
                foreach (var endpoint in slice.Endpoints)
                {
                    var conditions = endpoint.Conditions;
                    if (endpoint.Addresses.Count > 0 && (conditions.IsReady || (conditions.IsServing && conditions.IsTerminating)))
                        endpoints.Add(new NatBackendValue4(endpoint.Addresses[0], (ushort)targetPort.Value));
                }
            }
            foreach (var frontend in frontends)
                foreach (var backend in endpoints)
                    targets.Add(new FlowTarget(frontend.Key, backend));
        }
        return targets;
    }

    /// <summary>Every (frontend, ready backend) pair of the Service's ports in <paramref name="protocols"/>.</summary>
    public static HashSet<FlowTarget> Targets(Service service, System.Collections.Immutable.ImmutableArray<EndpointSlice> slices, IReadOnlySet<L4Protocol> protocols,
        FrontendContext? context = null)
    {
        var targets = new HashSet<FlowTarget>();
        var frontends = new List<FrontendEntry>();
        var sets = new BackendSets();
        foreach (var port in service.Ports)
        {
            if (port.Protocol is not (Protocol.Tcp or Protocol.Udp or Protocol.Sctp) || !protocols.Contains(DesiredStateBuilder.ToL4(port.Protocol)))
                continue;
            frontends.Clear();
            Frontends.Add(service, port, context ?? FrontendContext.None, frontends, problems: null);
            if (frontends.Count == 0)
                continue;
            // What the dataplane serves: both sets (a terminating endpoint that a set still falls back on is not removed).
            sets.Select(service, port, slices, (context ?? FrontendContext.None).Node);
            foreach (var frontend in frontends)
                foreach (var backend in sets.Cluster.Concat(sets.Local))
                    targets.Add(new FlowTarget(frontend.Key, backend));
        }
        return targets;
    }
}
