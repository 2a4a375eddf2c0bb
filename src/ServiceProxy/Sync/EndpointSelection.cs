using System.Collections.Immutable;
using System.Net;
using System.Text;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// One endpoint of a service port, resolved: its first address, the port it listens on (the Service port's numeric
/// <c>targetPort</c> or the slice's named port), its conditions read as Kubernetes reads them (absent <c>ready</c> and
/// <c>serving</c> are true, absent <c>terminating</c> false), where it runs and its hints.
/// </summary>
public readonly record struct EndpointCandidate(
    IPAddress Address,
    int Port,
    bool Ready,
    bool Serving,
    bool Terminating,
    string? NodeName = null,
    string? Zone = null,
    EndpointHints? Hints = null)
{
    /// <summary>The candidate for <paramref name="endpoint"/>'s first address on <paramref name="port"/>.</summary>
    public static EndpointCandidate From(SliceEndpoint endpoint, int port) =>
        new(endpoint.Addresses[0], port, endpoint.Conditions.IsReady, endpoint.Conditions.IsServing, endpoint.Conditions.IsTerminating,
            endpoint.NodeName, endpoint.Zone, endpoint.Hints);

    /// <summary>Not ready, but still serving while it terminates: used only when a set has no ready endpoint (KEP-1669).</summary>
    public bool ServingTerminating => Serving && Terminating;

    public bool HasZoneHints => Hints is { ForZones.Count: > 0 };
    public bool HasNodeHints => Hints is { ForNodes.Count: > 0 };
    public bool HintsZone(string zone) => Hints is { } hints && hints.ForZones.Contains(zone);
    public bool HintsNode(string node) => Hints is { } hints && hints.ForNodes.Contains(node);

    public override string ToString() => $"{Address}:{Port}";
}

/// <summary>The node endpoint selection runs for: its name (<c>--hostname-override</c>) and its zone (<c>topology.kubernetes.io/zone</c>).</summary>
public sealed record NodeContext(string Name, string? Zone = null)
{
    /// <summary>This node as the source knows it; without a Node object, the name alone (topology hints are then ignored).</summary>
    public static NodeContext Of(string name, Node? node) => new(name, node?.Zone);
}

/// <summary>Which set of endpoints a kind of traffic uses.</summary>
public enum EndpointSetKind
{
    /// <summary>Every usable endpoint in the cluster (narrowed by topology hints).</summary>
    Cluster,
    /// <summary>Only this node's endpoints (a traffic policy of <c>Local</c>).</summary>
    Local,
}

/// <summary>Why a set holds the endpoints it holds.</summary>
public enum SelectionBasis
{
    /// <summary>The ready endpoints (all of them for the cluster set, this node's for the local set).</summary>
    Ready,
    /// <summary>The ready endpoints hinted for this node's zone (<c>hints.forZones</c>, KEP-2433, trafficDistribution PreferSameZone).</summary>
    ZoneHints,
    /// <summary>The ready endpoints hinted for this node (<c>hints.forNodes</c>, trafficDistribution PreferSameNode, KEP-3015).</summary>
    NodeHints,
    /// <summary>No ready endpoint: the serving and terminating ones (KEP-1669).</summary>
    ServingTerminating,
    /// <summary>No usable endpoint at all.</summary>
    None,
}

/// <summary>
/// One set of endpoints and why: <see cref="Explanation"/> is a short line for <c>dump</c>, e.g.
/// <c>local: 1 of 3 endpoints (eTP=Local)</c> or <c>cluster: zone hints for zone-a: 2 of 4 endpoints</c>.
/// </summary>
public sealed record EndpointSet(EndpointSetKind Kind, SelectionBasis Basis, ImmutableArray<EndpointCandidate> Endpoints, int Considered, string Explanation)
{
    public int Count => Endpoints.Length;

    public override string ToString() => Explanation;
}

/// <summary>
/// What <see cref="EndpointSelection.Select"/> decided for one service port on one node.
/// </summary>
/// <param name="Cluster">The cluster set; null when no traffic of this service port uses it (iTP=Local and not externally reachable).</param>
/// <param name="Local">The local set; null when no traffic uses it (neither iTP=Local nor an effective eTP=Local).</param>
/// <param name="InternalTraffic">The set that serves traffic from this node's pods and host to the ClusterIP.</param>
/// <param name="ExternalTraffic">
/// The set that serves external traffic (NodePort, LoadBalancer IP, external IP from outside the cluster); null when
/// the service port is not externally reachable. Traffic from inside the cluster to those addresses uses the cluster
/// set (kube-proxy short-circuits it), which is why the cluster set exists whenever the port is externally reachable.
/// </param>
/// <param name="HasAnyEndpoints">
/// Some endpoint anywhere is usable (ready, or serving and terminating). When a set is empty but this is true, its
/// traffic is dropped (the endpoints are elsewhere); when it is false the Service has no endpoints and is rejected.
/// </param>
public sealed record EndpointSelectionResult(
    EndpointSet? Cluster,
    EndpointSet? Local,
    EndpointSetKind InternalTraffic,
    EndpointSetKind? ExternalTraffic,
    bool HasAnyEndpoints)
{
    /// <summary>The set for <paramref name="kind"/>; throws when the selection did not build it.</summary>
    public EndpointSet SetFor(EndpointSetKind kind) =>
        (kind == EndpointSetKind.Cluster ? Cluster : Local) ?? throw new InvalidOperationException($"no {kind} set was selected");

    /// <summary>The explanation lines of the sets that exist (cluster first).</summary>
    public IEnumerable<string> Explanations()
    {
        if (Cluster is not null)
            yield return Cluster.Explanation;
        if (Local is not null)
            yield return Local.Explanation;
    }
}

/// <summary>
/// Which endpoints serve which traffic, with kube-proxy's semantics (its <c>CategorizeEndpoints</c>): a pure function
/// of the Service, one service port's resolved endpoints and this node.
/// <list type="bullet">
/// <item>Traffic policies (KEP-2086, eTP): <c>internalTrafficPolicy: Local</c> sends traffic to the ClusterIP only to this
/// node's endpoints (<c>nodeName</c>); <c>externalTrafficPolicy: Local</c> does so for external traffic, and only counts
/// for a service port reachable from outside (a node port, a LoadBalancer IP in VIP mode, an external IP). The cluster
/// set exists unless iTP=Local and the port is internal only; the local set exists when either policy is Local.</item>
/// <item>Terminating endpoints (KEP-1669): each set falls back, independently, to the serving and terminating endpoints
/// when it has no ready one.</item>
/// <item>Topology (KEP-2433, KEP-3015, KEP-4444): the cluster set uses the hints, looked at over the ready endpoints:
/// when every one has node hints and some are for this node, those (PreferSameNode); otherwise when every one has zone
/// hints and some are for this node's zone, those; otherwise all. The local set ignores hints.</item>
/// </list>
/// The caller passes one candidate per distinct address and port (as the backends are deduplicated).
/// </summary>
public static class EndpointSelection
{
    public static EndpointSelectionResult Select(Service service, ServicePort port, IReadOnlyList<EndpointCandidate> endpoints, NodeContext node)
    {
        var external = ExternallyReachable(service, port);
        var internalLocal = service.InternalTrafficPolicy == TrafficPolicy.Local;
        var externalLocal = external && ExternalPolicyLocal(service);
        var usesCluster = !internalLocal || external;
        var usesLocal = internalLocal || externalLocal;

        var hasAny = false;
        for (var i = 0; i < endpoints.Count; i++)
            if (endpoints[i].Ready || endpoints[i].ServingTerminating)
            {
                hasAny = true;
                break;
            }

        var cluster = usesCluster ? ClusterSet(endpoints, node) : null;
        var local = usesLocal ? LocalSet(endpoints, node, PolicyTag(internalLocal, externalLocal)) : null;
        return new EndpointSelectionResult(cluster, local,
            internalLocal ? EndpointSetKind.Local : EndpointSetKind.Cluster,
            external ? (externalLocal ? EndpointSetKind.Local : EndpointSetKind.Cluster) : null,
            hasAny);
    }

    /// <summary>
    /// A service port is reachable from outside the cluster when it has a node port (NodePort and LoadBalancer
    /// Services), a LoadBalancer ingress IP in VIP mode, or external IPs: kube-proxy's <c>ExternallyAccessible</c>.
    /// </summary>
    public static bool ExternallyReachable(Service service, ServicePort port) =>
        (service.Type is ServiceType.NodePort or ServiceType.LoadBalancer && port.NodePort is not null)
        || (service.Type == ServiceType.LoadBalancer && service.LoadBalancerIngress.Any(ingress => ingress.IPMode == LoadBalancerIPMode.Vip))
        || service.ExternalIPs.Count > 0;

    /// <summary>
    /// <c>externalTrafficPolicy: Local</c> counts for NodePort and LoadBalancer Services and for ClusterIP Services
    /// with external IPs (kube-proxy's <c>ExternalPolicyLocal</c>); elsewhere it is ignored.
    /// </summary>
    public static bool ExternalPolicyLocal(Service service) =>
        service.ExternalTrafficPolicy == TrafficPolicy.Local
        && (service.Type is ServiceType.NodePort or ServiceType.LoadBalancer || service.ExternalIPs.Count > 0);

    /// <summary>
    /// Whether the Service gets a health check node port server: a LoadBalancer Service with an effective
    /// <c>externalTrafficPolicy: Local</c> and a <c>healthCheckNodePort</c> (kube-proxy's <c>NeedsHealthCheck</c>).
    /// </summary>
    public static bool NeedsHealthCheck(Service service) =>
        service.Type == ServiceType.LoadBalancer && ExternalPolicyLocal(service) && service.HealthCheckNodePort is not null;

    /// <summary>
    /// What a health check node port reports: this node's ready endpoints of the Service, counted once per IP over all
    /// its ports and IPv4 slices (terminating ones do not count, so load balancers drain a node whose pods are going away).
    /// </summary>
    public static int LocalReadyEndpointCount(Service service, IEnumerable<EndpointSlice> slices, string nodeName)
    {
        HashSet<IPAddress>? ips = null;
        foreach (var slice in slices)
        {
            if (slice.AddressType != AddressType.IPv4 || !ServesAnyPort(service, slice))
                continue;
            foreach (var endpoint in slice.Endpoints)
                if (endpoint.Conditions.IsReady && endpoint.Addresses.Count > 0 && endpoint.NodeName == nodeName)
                    (ips ??= []).Add(endpoint.Addresses[0]);
        }
        return ips?.Count ?? 0;
    }

    /// <summary>A slice gives endpoints to a service port with a numeric targetPort, or a named one it carries.</summary>
    private static bool ServesAnyPort(Service service, EndpointSlice slice)
    {
        foreach (var port in service.Ports)
        {
            if (port.TargetPort.Number is not null)
                return true;
            foreach (var slicePort in slice.Ports)
                if (slicePort.Name == port.Name && slicePort.Protocol == port.Protocol && slicePort.Port is not null)
                    return true;
        }
        return false;
    }

    private static string PolicyTag(bool internalLocal, bool externalLocal) => (internalLocal, externalLocal) switch
    {
        (true, true) => "iTP=Local, eTP=Local",
        (true, false) => "iTP=Local",
        _ => "eTP=Local",
    };

    private static EndpointSet ClusterSet(IReadOnlyList<EndpointCandidate> endpoints, NodeContext node)
    {
        var (mode, ignoredHints) = TopologyMode(endpoints, node);
        var chosen = ImmutableArray.CreateBuilder<EndpointCandidate>();
        foreach (var endpoint in endpoints)
            if (endpoint.Ready && AvailableFor(endpoint, mode, node))
                chosen.Add(endpoint);

        var basis = mode;
        if (chosen.Count == 0)
        {
            // No ready endpoint anywhere (a topology mode is only chosen when one matches): fall back to the
            // serving-terminating ones, without topology.
            foreach (var endpoint in endpoints)
                if (endpoint.ServingTerminating)
                    chosen.Add(endpoint);
            basis = chosen.Count > 0 ? SelectionBasis.ServingTerminating : SelectionBasis.None;
        }

        var total = endpoints.Count;
        var text = new StringBuilder("cluster: ");
        switch (basis)
        {
            case SelectionBasis.ZoneHints:
                text.Append($"zone hints for {node.Zone}: {chosen.Count} of {total} endpoints");
                break;
            case SelectionBasis.NodeHints:
                text.Append($"node hints for {node.Name}: {chosen.Count} of {total} endpoints");
                break;
            case SelectionBasis.ServingTerminating:
                text.Append($"no ready endpoint; {chosen.Count} of {total} endpoints serving and terminating");
                break;
            case SelectionBasis.None:
                text.Append(total == 0 ? "no endpoints" : $"0 of {total} endpoints ready or serving and terminating");
                break;
            default:
                text.Append($"{chosen.Count} of {total} endpoints ready");
                if (ignoredHints is not null)
                    text.Append("; hints ignored: ").Append(ignoredHints);
                break;
        }
        return new EndpointSet(EndpointSetKind.Cluster, basis, chosen.DrainToImmutable(), total, text.ToString());
    }

    private static EndpointSet LocalSet(IReadOnlyList<EndpointCandidate> endpoints, NodeContext node, string policy)
    {
        var chosen = ImmutableArray.CreateBuilder<EndpointCandidate>();
        foreach (var endpoint in endpoints)
            if (endpoint.Ready && IsLocal(endpoint, node))
                chosen.Add(endpoint);
        var basis = SelectionBasis.Ready;
        if (chosen.Count == 0)
        {
            foreach (var endpoint in endpoints)
                if (endpoint.ServingTerminating && IsLocal(endpoint, node))
                    chosen.Add(endpoint);
            basis = chosen.Count > 0 ? SelectionBasis.ServingTerminating : SelectionBasis.None;
        }

        var total = endpoints.Count;
        var text = basis switch
        {
            SelectionBasis.ServingTerminating => $"local: no ready endpoint on {node.Name}; {chosen.Count} of {total} endpoints serving and terminating ({policy})",
            SelectionBasis.None => $"local: 0 of {total} endpoints on {node.Name} ({policy})",
            _ => $"local: {chosen.Count} of {total} endpoints ({policy})",
        };
        return new EndpointSet(EndpointSetKind.Local, basis, chosen.DrainToImmutable(), total, text);
    }

    private static bool IsLocal(EndpointCandidate endpoint, NodeContext node) =>
        endpoint.NodeName is { } name && name == node.Name;

    /// <summary>
    /// kube-proxy's <c>topologyModeFromHints</c>: looks at the ready endpoints only. Returns the mode, and when hints are
    /// present but not used, why (for the explanation).
    /// </summary>
    private static (SelectionBasis Mode, string? IgnoredHints) TopologyMode(IReadOnlyList<EndpointCandidate> endpoints, NodeContext node)
    {
        int ready = 0, withNodeHints = 0, forThisNode = 0, withZoneHints = 0, forThisZone = 0;
        foreach (var endpoint in endpoints)
        {
            if (!endpoint.Ready)
                continue;
            ready++;
            if (endpoint.HasNodeHints)
            {
                withNodeHints++;
                if (endpoint.HintsNode(node.Name))
                    forThisNode++;
            }
            if (endpoint.HasZoneHints)
            {
                withZoneHints++;
                if (node.Zone is { Length: > 0 } zone && endpoint.HintsZone(zone))
                    forThisZone++;
            }
        }
        if (ready == 0)
            return (SelectionBasis.Ready, null);
        if (withNodeHints == ready && forThisNode > 0)
            return (SelectionBasis.NodeHints, null);
        if (withZoneHints == ready && forThisZone > 0)
            return (SelectionBasis.ZoneHints, null);

        string? why = null;
        if (withZoneHints > 0)
            why = withZoneHints < ready ? $"{ready - withZoneHints} of {ready} ready endpoints without a zone hint"
                : node.Zone is not { Length: > 0 } ? $"node {node.Name} has no zone label"
                : $"none for zone {node.Zone}";
        else if (withNodeHints > 0)
            why = withNodeHints < ready ? $"{ready - withNodeHints} of {ready} ready endpoints without a node hint" : $"none for node {node.Name}";
        return (SelectionBasis.Ready, why);
    }

    private static bool AvailableFor(EndpointCandidate endpoint, SelectionBasis mode, NodeContext node) => mode switch
    {
        SelectionBasis.NodeHints => endpoint.HintsNode(node.Name),
        SelectionBasis.ZoneHints => endpoint.HintsZone(node.Zone!),
        _ => true,
    };
}
