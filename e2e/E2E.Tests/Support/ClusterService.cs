using System.Net;
using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.E2E.Tests.Support;

/// <summary>
/// A NodePort Service of a <see cref="ProxiedCluster"/> in namespace <c>e2e</c>, with one port per server of a
/// <see cref="ClusterBackend"/>: <c>http</c> TCP 80 -> 8080 (nodePort <see cref="FirstNodePort"/>), <c>echo</c> TCP 81 -> 7007
/// (+1) and <c>udp</c> UDP 53 -> 5353 (+2). Its EndpointSlice lists the backends given, each with its node's name.
/// </summary>
internal sealed record ClusterService(string Name, IPAddress ClusterIp, int FirstNodePort, bool LocalExternalTrafficPolicy = false)
{
    public const string Namespace = "e2e";

    public IPEndPoint Http => new(ClusterIp, 80);
    public IPEndPoint Echo => new(ClusterIp, 81);
    public IPEndPoint Udp => new(ClusterIp, 53);
    public int HttpNodePort => FirstNodePort;
    public int EchoNodePort => FirstNodePort + 1;
    public int UdpNodePort => FirstNodePort + 2;

    public string ServiceFile => $"{Name}-service.yaml";
    public string SliceFile => $"{Name}-slice.yaml";

    /// <summary>Writes the Service and its EndpointSlice (the backends given, none: an empty slice).</summary>
    public void WriteTo(ManifestDirectory manifests, IEnumerable<ClusterBackend> backends)
    {
        manifests.Write(ServiceFile, ServiceYaml());
        manifests.Write(SliceFile, SliceYaml(backends));
    }

    /// <summary>Whether <paramref name="pinRoot"/>'s frontend map holds the ClusterIP and the NodePorts on <paramref name="nodeAddress"/>.</summary>
    public bool IsProgrammed(string pinRoot, IPAddress nodeAddress) =>
        PinnedNatMaps.Frontend(pinRoot, Http, L4Protocol.Tcp) is not null
        && PinnedNatMaps.Frontend(pinRoot, new IPEndPoint(nodeAddress, HttpNodePort), L4Protocol.Tcp) is not null
        && PinnedNatMaps.Frontend(pinRoot, new IPEndPoint(nodeAddress, UdpNodePort), L4Protocol.Udp) is not null;

    public string ServiceYaml() => $"""
        apiVersion: v1
        kind: Service
        metadata: {"{"}name: {Name}, namespace: {Namespace}{"}"}
        spec:
          type: NodePort
          clusterIP: {ClusterIp}
          clusterIPs: [{ClusterIp}]
          externalTrafficPolicy: {(LocalExternalTrafficPolicy ? "Local" : "Cluster")}
          ports:
          - {"{"}name: http, protocol: TCP, port: {Http.Port}, targetPort: {ClusterBackend.HttpPort}, nodePort: {HttpNodePort}{"}"}
          - {"{"}name: echo, protocol: TCP, port: {Echo.Port}, targetPort: {ClusterBackend.EchoPort}, nodePort: {EchoNodePort}{"}"}
          - {"{"}name: udp, protocol: UDP, port: {Udp.Port}, targetPort: {ClusterBackend.UdpPort}, nodePort: {UdpNodePort}{"}"}

        """;

    public string SliceYaml(IEnumerable<ClusterBackend> backends) => $"""
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata:
          name: {Name}-e2e01
          namespace: {Namespace}
          labels: {"{"}kubernetes.io/service-name: {Name}{"}"}
        addressType: IPv4
        ports:
        - {"{"}name: http, protocol: TCP, port: {ClusterBackend.HttpPort}{"}"}
        - {"{"}name: echo, protocol: TCP, port: {ClusterBackend.EchoPort}{"}"}
        - {"{"}name: udp, protocol: UDP, port: {ClusterBackend.UdpPort}{"}"}
        endpoints:
        {string.Concat(backends.Select(b => $"- {{addresses: [{b.Pod.Address}], conditions: {{ready: true}}, nodeName: {b.Node.Name}}}\n"))}
        """;
}
