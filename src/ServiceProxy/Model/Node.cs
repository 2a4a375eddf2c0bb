using System.Net;

namespace ProxyReplacement.ServiceProxy.Model;

/// <summary>The kinds of <c>status.addresses</c> a Node reports.</summary>
public enum NodeAddressType
{
    InternalIP,
    ExternalIP,
    Hostname,
    InternalDNS,
    ExternalDNS,
}

/// <summary>One entry of a Node's <c>status.addresses</c>; <see cref="Ip"/> is set for the two IP types.</summary>
public sealed record NodeAddress(NodeAddressType Type, string Address, IPAddress? Ip = null);

/// <summary>
/// A cluster node as the proxy needs it: its addresses (this node's for NodePort and external traffic,
/// the others' for multi-node features) and its zone (<c>topology.kubernetes.io/zone</c>, for topology hints).
/// </summary>
public sealed record Node(
    string Name,
    EquatableList<NodeAddress> Addresses,
    string? Zone,
    EquatableList<IPNetwork>? PodCidrs = null,
    EquatableList<string>? TaintKeys = null,
    bool BeingDeleted = false)
{
    /// <summary>The well-known label carrying a node's zone.</summary>
    public const string ZoneLabel = "topology.kubernetes.io/zone";

    /// <summary>The taint the cluster autoscaler sets on a node it is about to delete (KEP-3836: drain it).</summary>
    public const string ToBeDeletedTaint = "ToBeDeletedByClusterAutoscaler";

    /// <summary><c>spec.podCIDRs</c> (or <c>spec.podCIDR</c>): the pod networks this node owns.</summary>
    public EquatableList<IPNetwork> PodCidrs { get; init; } = PodCidrs ?? EquatableList<IPNetwork>.Empty;

    /// <summary>The keys of <c>spec.taints</c>.</summary>
    public EquatableList<string> TaintKeys { get; init; } = TaintKeys ?? EquatableList<string>.Empty;

    /// <summary>
    /// The node is going away (a deletionTimestamp, or the autoscaler's <see cref="ToBeDeletedTaint"/>): kube-proxy's
    /// <c>/healthz</c> then answers 503 so load balancers drain it (KEP-3836).
    /// </summary>
    public bool Draining => BeingDeleted || TaintKeys.Contains(ToBeDeletedTaint);

    public IEnumerable<IPAddress> IPs(NodeAddressType type) =>
        Addresses.Where(address => address.Type == type && address.Ip is not null).Select(address => address.Ip!);

    public override string ToString() =>
        $"{Name} ({string.Join(", ", Addresses.Select(a => $"{a.Type} {a.Address}"))}{(Zone is null ? "" : $"; zone {Zone}")})";
}
