using System.Net;

namespace ProxyReplacement.Dataplane.Tests.Netns;

/// <summary>
/// A client outside the node (<see cref="NodeTopology.AddExternalClient"/>): its namespace, the node's interface
/// facing it (a host data interface of the node), the node's address on that link and the client's own.
/// </summary>
public sealed record ExternalClient(string Namespace, string NodeInterface, IPAddress NodeAddress, IPAddress Address)
{
    /// <summary>Routes <paramref name="address"/> (a LoadBalancer or external IP) from the client via the node, as a router would.</summary>
    public void RouteViaNode(IPAddress address) =>
        IpCommand.Ip("-n", Namespace, "route", "replace", $"{address}/32", "via", NodeAddress.ToString());
}
