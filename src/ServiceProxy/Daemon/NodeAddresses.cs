using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Options;

namespace ProxyReplacement.ServiceProxy.Daemon;

/// <summary>An address of one of this network namespace's interfaces.</summary>
public readonly record struct InterfaceAddress(string Interface, IPAddress Address);

/// <summary>
/// The addresses this node serves NodePorts on. With a Node object (the Kubernetes source): its InternalIPs and
/// ExternalIPs, the first of each family being the primary IPs. Without one: every address of the host's
/// interfaces but loopback ones (127.0.0.0/8 is not served: kube-proxy's iptables mode serves it only with
/// route_localnet, its nftables mode and the eBPF proxies do not), the primary being the first address of the
/// first interface matching <c>--host-interfaces</c>. Then <c>--nodeport-addresses</c> filters them. Sorted,
/// so that the same addresses always give the same frontends.
/// </summary>
public static class NodeAddresses
{
    public static EquatableList<IPAddress> Resolve(Node? node, IReadOnlyList<InterfaceAddress> host, InterfacePatterns hostInterfaces,
        NodePortAddressFilter filter)
    {
        List<IPAddress> candidates;
        HashSet<IPAddress> primary;
        var nodeIPs = node?.IPs(NodeAddressType.InternalIP).Concat(node.IPs(NodeAddressType.ExternalIP)).ToList() ?? [];
        if (nodeIPs.Count > 0)
        {
            candidates = nodeIPs;
            primary = node!.IPs(NodeAddressType.InternalIP).Concat(node.IPs(NodeAddressType.ExternalIP))
                .GroupBy(ip => ip.AddressFamily).Select(family => family.First()).ToHashSet();
        }
        else
        {
            candidates = host.Select(a => a.Address).Where(ip => !IPAddress.IsLoopback(ip) && !ip.IsIPv6LinkLocal).ToList();
            primary = host.Where(a => hostInterfaces.Matches(a.Interface) && !IPAddress.IsLoopback(a.Address))
                .GroupBy(a => a.Address.AddressFamily).Select(family => family.First().Address).ToHashSet();
        }
        return candidates.Where(ip => filter.Allows(ip, primary.Contains(ip))).Distinct()
            .OrderBy(ip => ip.AddressFamily).ThenBy(ip => ip.GetAddressBytes(), ByteOrder.Instance).ToEquatableList();
    }

    /// <summary>The addresses of this network namespace's interfaces that are up (getifaddrs via .NET).</summary>
    public static IReadOnlyList<InterfaceAddress> OfHost()
    {
        var addresses = new List<InterfaceAddress>();
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            if (nic.OperationalStatus == OperationalStatus.Down)
                continue;
            foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
                if (unicast.Address.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
                    addresses.Add(new InterfaceAddress(nic.Name, unicast.Address));
        }
        return addresses;
    }

    private sealed class ByteOrder : IComparer<byte[]>
    {
        public static readonly ByteOrder Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
