using ProxyReplacement.Dataplane.Netns;

namespace ProxyReplacement.Dataplane.Tests.Netns;

/// <summary>
/// The plumbing every topology of this folder shares: a namespace that routes (a node), and a pod joined to it by a
/// veth pair. What addresses and routes go on either end is the topology's business.
/// </summary>
internal static class PodVeth
{
    /// <summary>
    /// Makes <paramref name="node"/> a router: forwarding on, reverse-path filtering off. Call it before any interface
    /// exists there so that new interfaces inherit "default". rp_filter must be off because replies leave a backend with
    /// a Service address as their source, which the node has no route back to.
    /// </summary>
    public static void MakeRouter(string node)
    {
        IpCommand.Sysctl(node, "net.ipv4.ip_forward", "1");
        IpCommand.Sysctl(node, "net.ipv4.conf.all.rp_filter", "0");
        IpCommand.Sysctl(node, "net.ipv4.conf.default.rp_filter", "0");
    }

    /// <summary>
    /// Creates the pair from inside <paramref name="node"/> with the peer placed straight into <paramref name="pod"/> as
    /// <c>eth0</c> (so no interface ever appears in the host namespace, where eth0 exists), turns reverse-path filtering
    /// off on the node's end and brings both ends up. Returns the node end's interface index.
    /// </summary>
    /// <param name="hostMac">The node end's MAC address (e.g. Calico's ee:ee:ee:ee:ee:ee); random when null.</param>
    public static int Join(string node, string hostInterface, string pod, string? hostMac = null)
    {
        IpCommand.Ip(["-n", node, "link", "add", hostInterface, .. hostMac is null ? [] : (string[])["address", hostMac],
            "type", "veth", "peer", "name", "eth0", "netns", pod]);
        IpCommand.Sysctl(node, $"net.ipv4.conf.{hostInterface}.rp_filter", "0");
        IpCommand.Ip("-n", node, "link", "set", hostInterface, "up");
        IpCommand.Ip("-n", pod, "link", "set", "eth0", "up");
        return NetworkNamespace.Run(node, () => NetworkNamespace.InterfaceIndex(hostInterface));
    }
}
