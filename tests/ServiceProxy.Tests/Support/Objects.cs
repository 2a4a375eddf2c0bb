using System.Net;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Tests.Support;

/// <summary>Terse builders for model objects in unit tests.</summary>
public static class Objects
{
    public static Service Service(string name, string clusterIP, int port = 80, int targetPort = 8080, string ns = "default",
        SessionAffinity affinity = SessionAffinity.None) =>
        new(ns, name, Labels.Empty, ServiceType.ClusterIP, EquatableList.From(IPAddress.Parse(clusterIP)),
            EquatableList.From(new ServicePort("", Protocol.Tcp, port, TargetPort.FromNumber(targetPort))), affinity);

    public static EndpointSlice Slice(string name, string service, params string[] readyAddresses) =>
        new("default", name, service, AddressType.IPv4,
            readyAddresses.Select(address => new SliceEndpoint(EquatableList.From(IPAddress.Parse(address)), new EndpointConditions()))
                .ToEquatableList(),
            EquatableList.From(new EndpointPort("", Protocol.Tcp, 8080)));
}
