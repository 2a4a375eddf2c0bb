using System.Net;

namespace ProxyReplacement.Dataplane.Tests.Netns;

/// <summary>
/// A pod of a <see cref="NodeTopology"/>: its own namespace with <c>eth0</c> (Address/24, default route via
/// Gateway), joined by a veth pair to the node namespace, where the peer is <c>HostInterface</c>
/// (index <c>HostIfIndex</c> there) holding the Gateway address.
/// </summary>
public sealed record PodInterface(
    string Namespace,
    string HostInterface,
    int HostIfIndex,
    IPAddress Address,
    IPAddress Gateway);
