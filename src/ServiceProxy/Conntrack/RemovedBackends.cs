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
/// (<see cref="DesiredStateBuilder.AddFrontendKeys"/>, <see cref="DesiredStateBuilder.ReadyBackends"/>).
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

    /// <summary>Every (frontend, ready backend) pair of the Service's ports in <paramref name="protocols"/>.</summary>
    public static HashSet<FlowTarget> Targets(Service service, System.Collections.Immutable.ImmutableArray<EndpointSlice> slices, IReadOnlySet<L4Protocol> protocols,
        FrontendContext? context = null)
    {
        var targets = new HashSet<FlowTarget>();
        var frontends = new List<FrontendEntry>();
        var backends = new List<NatBackendValue4>();
        foreach (var port in service.Ports)
        {
            if (port.Protocol is not (Protocol.Tcp or Protocol.Udp or Protocol.Sctp) || !protocols.Contains(DesiredStateBuilder.ToL4(port.Protocol)))
                continue;
            frontends.Clear();
            Frontends.Add(service, port, context ?? FrontendContext.None, frontends, problems: null);
            if (frontends.Count == 0)
                continue;
            DesiredStateBuilder.ReadyBackends(slices, port, backends);
            foreach (var frontend in frontends)
                foreach (var backend in backends)
                    targets.Add(new FlowTarget(frontend.Key, backend));
        }
        return targets;
    }
}
