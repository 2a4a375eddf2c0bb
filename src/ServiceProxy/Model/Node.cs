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
public sealed record Node(string Name, EquatableList<NodeAddress> Addresses, string? Zone)
{
    /// <summary>The well-known label carrying a node's zone.</summary>
    public const string ZoneLabel = "topology.kubernetes.io/zone";

    public IEnumerable<IPAddress> IPs(NodeAddressType type) =>
        Addresses.Where(address => address.Type == type && address.Ip is not null).Select(address => address.Ip!);

    public override string ToString() =>
        $"{Name} ({string.Join(", ", Addresses.Select(a => $"{a.Type} {a.Address}"))}{(Zone is null ? "" : $"; zone {Zone}")})";
}
