using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Abi;

/// <summary>
/// Mirrors <c>struct pr_route_key4</c> (the LPM key of <c>pr_routes4</c>):
/// <code>
/// struct pr_route_key4 { __u32 prefixlen; __be32 addr; };
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 8)]
public readonly record struct RouteKey4
{
    [FieldOffset(0)] public readonly uint PrefixLength;
    [FieldOffset(4)] public readonly uint AddressNbo;

    public RouteKey4(IPNetwork network)
    {
        if (network.BaseAddress.AddressFamily != AddressFamily.InterNetwork)
            throw new ArgumentException($"{network} is not an IPv4 network", nameof(network));
        PrefixLength = (uint)network.PrefixLength;
        AddressNbo = Ipv4.ToNbo(network.BaseAddress);
    }

    public IPNetwork Network => new(Ipv4.FromNbo(AddressNbo), (int)PrefixLength);

    public override string ToString() => Network.ToString();
}

/// <summary>Route flags (<c>PR_ROUTE_F_*</c>).</summary>
[Flags]
public enum RouteFlags : uint
{
    None = 0,

    /// <summary><c>PR_ROUTE_F_LOCAL</c>: owned by this node.</summary>
    Local = 1u << 0,

    /// <summary><c>PR_ROUTE_F_REMOTE</c>: owned by another node, at the value's node address.</summary>
    Remote = 1u << 1,

    /// <summary><c>PR_ROUTE_F_NODE</c>: a node's own address (/32), not a pod CIDR; also a tunnel peer.</summary>
    Node = 1u << 2,
}

/// <summary>
/// Mirrors <c>struct pr_route_value</c>:
/// <code>
/// struct pr_route_value { __u32 flags; __be32 node_addr4; __u8 node_addr6[16]; };
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 24)]
public readonly record struct RouteValue
{
    [FieldOffset(0)] public readonly RouteFlags Flags;
    [FieldOffset(4)] public readonly uint NodeAddressNbo;
    [FieldOffset(8)] private readonly Ipv6Bytes _nodeAddress6;

    public RouteValue(RouteFlags flags, IPAddress? nodeAddress)
    {
        Flags = flags;
        NodeAddressNbo = nodeAddress is null ? 0 : Ipv4.ToNbo(nodeAddress);
        _nodeAddress6 = default;
    }

    /// <summary>The owning node's IPv4 address, or null when none is recorded.</summary>
    public IPAddress? NodeAddress => NodeAddressNbo == 0 ? null : Ipv4.FromNbo(NodeAddressNbo);

    public override string ToString() =>
        $"{(Flags.HasFlag(RouteFlags.Local) ? "local" : Flags.HasFlag(RouteFlags.Remote) ? "remote" : "none")}" +
        $"{(Flags.HasFlag(RouteFlags.Node) ? " node" : "")} via {NodeAddress?.ToString() ?? "-"}";
}
