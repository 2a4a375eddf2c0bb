using System.Net;
using System.Net.NetworkInformation;
using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.Dataplane.Tests.Golden;

/// <summary>An IPv4 address and port, one end of a flow.</summary>
public sealed record Endpoint(IPAddress Address, ushort Port)
{
    public static Endpoint Of(string address, ushort port) => new(IPAddress.Parse(address), port);

    public override string ToString() => $"{Address}:{Port}";
}

/// <summary>
/// The addresses of the golden-packet scenarios: a client pod, Services (VIP:port) and backend pods.
/// The program runs on the host side of a pod's veth, so every input frame goes pod MAC -> host MAC.
/// </summary>
public static class Topology
{
    public static readonly PhysicalAddress PodMac = PhysicalAddress.Parse("02-00-0a-f4-01-05");
    public static readonly PhysicalAddress HostMac = PhysicalAddress.Parse("02-00-00-00-00-fe");

    public static readonly Endpoint Client = Endpoint.Of("10.244.1.5", 40000);
    public static readonly Endpoint OtherClient = Endpoint.Of("10.244.3.17", 51000);

    public const uint ServiceId = 7;
    public static readonly Endpoint TcpVip = Endpoint.Of("10.96.0.10", 80);
    public static readonly Endpoint UdpVip = Endpoint.Of("10.96.0.53", 53);

    public static readonly Endpoint BackendA = Endpoint.Of("10.244.2.7", 8080);
    public static readonly Endpoint BackendB = Endpoint.Of("10.244.2.8", 8080);
    public static readonly Endpoint BackendC = Endpoint.Of("10.244.3.9", 8080);
    public static readonly Endpoint UdpBackendA = Endpoint.Of("10.244.2.7", 5353);
    public static readonly Endpoint UdpBackendB = Endpoint.Of("10.244.2.8", 5353);

    /// <summary>An address that is neither a VIP nor in any map.</summary>
    public static readonly Endpoint Unrelated = Endpoint.Of("192.0.2.44", 443);

    public static NatFrontendKey4 FrontendKey(Endpoint vip, L4Protocol protocol) => new(vip.Address, vip.Port, protocol);

    /// <summary>n distinct backends 10.244.10.(1..n):(9000+i).</summary>
    public static IReadOnlyList<Endpoint> ManyBackends(int count) =>
        Enumerable.Range(1, count).Select(i => Endpoint.Of($"10.244.10.{i}", (ushort)(9000 + i))).ToList();
}
