using System.Net;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Options;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// What the frontends of a snapshot depend on besides the snapshot itself: the node addresses NodePorts are
/// served on (<see cref="NodeAddresses"/> resolves them from the Node object or the host's interfaces, filtered
/// by <c>--nodeport-addresses</c>) and the valid NodePort range. A change of either rebuilds every frontend.
/// </summary>
public sealed record FrontendContext(EquatableList<IPAddress> NodePortAddresses, PortRange NodePortRange)
{
    /// <summary>No node addresses (no NodePort frontends), the default range: what tests of ClusterIPs alone need.</summary>
    public static readonly FrontendContext None = new(EquatableList<IPAddress>.Empty, PortRange.DefaultNodePorts);

    public override string ToString() =>
        $"NodePort addresses [{string.Join(", ", NodePortAddresses)}], range {NodePortRange}";
}
