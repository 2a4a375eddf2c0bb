using System.Net;
using System.Net.Sockets;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>One frontend of a service port: the address:port/protocol a client uses, and which entry point it is.</summary>
public readonly record struct FrontendEntry(NatFrontendKey4 Key, FrontendKind Kind);

/// <summary>
/// Every way into a service port, as frontends (IPv4 for now; the IPv6 siblings will take the same rules):
/// <list type="bullet">
/// <item>each IPv4 ClusterIP, on the Service port;</item>
/// <item>NodePort (types NodePort and LoadBalancer with a nodePort): each NodePort address of this node, on the nodePort;</item>
/// <item>LoadBalancer: each <c>status.loadBalancer.ingress</c> IP in ipMode VIP, on the Service port (ipMode Proxy: none,
/// traffic to that IP goes out to the load balancer, KEP-1860);</item>
/// <item>each of <c>spec.externalIPs</c>, on the Service port.</item>
/// </list>
/// What cannot be served is reported and skipped, the rest of the Service is programmed: a nodePort outside the
/// node's range, an external or LoadBalancer IP that is not a unicast address a client can reach (unspecified,
/// loopback, link-local, multicast, broadcast, reserved).
/// </summary>
public static class Frontends
{
    /// <summary>Appends the port's frontends to <paramref name="into"/>; problems (reported by a full rebuild) to <paramref name="problems"/>.</summary>
    public static void Add(Service service, ServicePort port, FrontendContext context, List<FrontendEntry> into, List<string>? problems)
    {
        // SCTP frontends are programmed so that the dataplane refuses their traffic (its NAT cannot rewrite an SCTP
        // port under the CRC32c) instead of passing it on to an address nothing answers.
        if (port.Protocol == Protocol.Sctp)
            problems?.Add($"{service.Namespace}/{service.Name}: port {port}: SCTP is not translated by this dataplane; " +
                          "its traffic is refused (ICMP port unreachable, counter reject_sctp_service)");
        var protocol = DesiredStateBuilder.ToL4(port.Protocol);
        var servicePort = (ushort)port.Port;
        foreach (var ip in service.ClusterIPs)
            if (ip.AddressFamily == AddressFamily.InterNetwork)
                into.Add(new FrontendEntry(new NatFrontendKey4(ip, servicePort, protocol), FrontendKind.ClusterIP));

        if (port.NodePort is { } nodePort && service.Type is ServiceType.NodePort or ServiceType.LoadBalancer)
        {
            if (!context.NodePortRange.Contains(nodePort))
                problems?.Add($"{service.Namespace}/{service.Name}: nodePort {nodePort} ({port}) is outside the node port range {context.NodePortRange}; not served");
            else
                foreach (var address in context.NodePortAddresses)
                    if (address.AddressFamily == AddressFamily.InterNetwork)
                        into.Add(new FrontendEntry(new NatFrontendKey4(address, (ushort)nodePort, protocol), FrontendKind.NodePort));
        }

        foreach (var ingress in service.LoadBalancerIngress)
        {
            if (ingress.IPMode == LoadBalancerIPMode.Proxy || ingress.Ip.AddressFamily != AddressFamily.InterNetwork)
                continue;
            if (UnservableReason(ingress.Ip) is { } reason)
                problems?.Add($"{service.Namespace}/{service.Name}: LoadBalancer IP {ingress.Ip} is {reason}; not served");
            else
                into.Add(new FrontendEntry(new NatFrontendKey4(ingress.Ip, servicePort, protocol), FrontendKind.LoadBalancer));
        }

        foreach (var ip in service.ExternalIPs)
        {
            if (ip.AddressFamily != AddressFamily.InterNetwork)
                continue;
            if (UnservableReason(ip) is { } reason)
                problems?.Add($"{service.Namespace}/{service.Name}: external IP {ip} is {reason}; not served");
            else
                into.Add(new FrontendEntry(new NatFrontendKey4(ip, servicePort, protocol), FrontendKind.ExternalIP));
        }
    }

    /// <summary>Why an IPv4 address cannot be a Service's external or LoadBalancer IP, or null when it can.</summary>
    public static string? UnservableReason(IPAddress address)
    {
        var b = address.GetAddressBytes();
        return b switch
        {
            [0, ..] => "in 0.0.0.0/8 (this network), not a unicast address",
            [127, ..] => "a loopback address",
            [169, 254, ..] => "a link-local address",
            [>= 224 and < 240, ..] => "a multicast address",
            [255, 255, 255, 255] => "the broadcast address",
            [>= 240, ..] => "in 240.0.0.0/4 (reserved), not a unicast address",
            _ => null,
        };
    }

    /// <summary>
    /// The value of one frontend of a service port: the id and both backend counts, affinity, what its kind needs, the
    /// Service's external mode (<see cref="ExternalModes"/>) and <paramref name="policyFlags"/> (<see cref="BackendSets.FlagsFor"/>:
    /// which set the traffic policies pick).
    /// </summary>
    public static NatFrontendValue Value(Service service, FrontendKind kind, uint id, uint backendCount, uint localCount = 0,
        FrontendFlags policyFlags = FrontendFlags.None)
    {
        var flags = policyFlags | ExternalModes.FlagOf(service);
        uint affinityTimeout = 0;
        if (service.SessionAffinity == SessionAffinity.ClientIP)
        {
            flags |= FrontendFlags.Affinity;
            affinityTimeout = (uint)service.SessionAffinityTimeoutSeconds;
        }
        if (kind == FrontendKind.LoadBalancer && HasIpv4SourceRanges(service))
            flags |= FrontendFlags.SourceRanges;
        return new NatFrontendValue(id, backendCount, flags, affinityTimeout, kind, localCount);
    }

    /// <summary>
    /// Whether the Service's LoadBalancer frontends check sources: some IPv4 range is given. (A Service with only IPv6
    /// ranges would drop every IPv4 client; its IPv4 frontends stay open until the IPv6 path exists.)
    /// </summary>
    public static bool HasIpv4SourceRanges(Service service) =>
        service.LoadBalancerSourceRanges.Any(range => range.BaseAddress.AddressFamily == AddressFamily.InterNetwork);
}
