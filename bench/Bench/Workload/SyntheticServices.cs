using System.Globalization;
using System.Net;
using System.Text;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.Bench.Workload;

/// <summary>
/// Generated clusters of N Services × M endpoints for the benchmarks, as model objects (for the
/// Syncer) and as manifests (for the real daemon). Service i gets ClusterIP 10.96.0.0/12 + i + 1 and
/// port 80/TCP; its endpoints come from <c>endpointFor(i, j)</c> on target port 8080, so a benchmark
/// can point some Services at real backend pods and the rest at addresses nothing answers. The first
/// <see cref="NodePorts"/> Services (at most the whole default NodePort range, 2,768) are type NodePort with
/// nodePort <see cref="NodePortOf"/>(i) = 30000 + i; the others are ClusterIP only.
/// </summary>
public sealed class SyntheticServices
{
    public const int ServicePort = 80;
    public const int TargetPort = 8080;
    public const string Namespace = "bench";

    /// <summary>The first nodePort (the API server's default range is 30000-32767).</summary>
    public const int FirstNodePort = 30000;

    /// <summary>How many NodePorts the default range holds: no cluster can have more NodePort Services (one port each).</summary>
    public const int NodePortRangeSize = 32767 - FirstNodePort + 1;

    private static readonly uint ServiceCidrBase = 0x0A60_0000; // 10.96.0.0
    private readonly Func<int, int, IPAddress> _endpointFor;

    /// <param name="nodePorts">How many Services, from index 0, are type NodePort (0 .. min(count, <see cref="NodePortRangeSize"/>)).</param>
    public SyntheticServices(int count, int endpointsPerService, Func<int, int, IPAddress>? endpointFor = null, int nodePorts = 0)
    {
        if (count < 1 || count > (1 << 20) - 2)
            throw new ArgumentOutOfRangeException(nameof(count), count, "1 .. 2^20-2 Services fit in 10.96.0.0/12");
        if (nodePorts < 0 || nodePorts > Math.Min(count, NodePortRangeSize))
            throw new ArgumentOutOfRangeException(nameof(nodePorts), nodePorts, $"0 .. min(count, {NodePortRangeSize}) NodePort Services");
        Count = count;
        EndpointsPerService = endpointsPerService;
        NodePorts = nodePorts;
        _endpointFor = endpointFor ?? DefaultEndpoint;
    }

    public int Count { get; }
    public int EndpointsPerService { get; }

    /// <summary>Services 0 .. NodePorts-1 are type NodePort.</summary>
    public int NodePorts { get; }

    /// <summary>The nodePort of Service <paramref name="index"/> (when it is one of the <see cref="NodePorts"/>).</summary>
    public static int NodePortOf(int index) => FirstNodePort + index;

    public bool IsNodePort(int index) => index < NodePorts;

    /// <summary>The ClusterIP of Service <paramref name="index"/>.</summary>
    public static IPAddress ClusterIP(int index) => FromUInt32(ServiceCidrBase + (uint)index + 1);

    public static string ServiceName(int index) => "svc-" + index.ToString(CultureInfo.InvariantCulture);

    /// <summary>Distinct endpoint addresses in 10.128.0.0/9 that no test topology uses.</summary>
    public static IPAddress DefaultEndpoint(int service, int endpoint) =>
        FromUInt32(0x0A80_0000u + (uint)(service * 16 + endpoint + 1));

    public IPAddress Endpoint(int service, int endpoint) => _endpointFor(service, endpoint);

    public Service Service(int index) => new(
        Namespace, ServiceName(index), Labels.Empty, IsNodePort(index) ? ServiceType.NodePort : ServiceType.ClusterIP,
        EquatableList.From(ClusterIP(index)),
        EquatableList.From(new ServicePort("http", Protocol.Tcp, ServicePort, ServiceProxy.Model.TargetPort.FromNumber(TargetPort),
            IsNodePort(index) ? NodePortOf(index) : null)));

    /// <summary>The Service's one EndpointSlice; <paramref name="generation"/> varies the last endpoint (for change benchmarks).</summary>
    public EndpointSlice Slice(int index, int generation = 0) => new(
        Namespace, ServiceName(index) + "-slice", ServiceName(index), AddressType.IPv4,
        Enumerable.Range(0, EndpointsPerService)
            .Select(j => new SliceEndpoint(
                EquatableList.From(j == EndpointsPerService - 1 && generation != 0 ? Shifted(Endpoint(index, j), generation) : Endpoint(index, j)),
                new EndpointConditions(Ready: true)))
            .ToEquatableList(),
        EquatableList.From(new EndpointPort("http", Protocol.Tcp, TargetPort)));

    public IEnumerable<Service> Services() => Enumerable.Range(0, Count).Select(Service);

    public IEnumerable<EndpointSlice> Slices() => Enumerable.Range(0, Count).Select(i => Slice(i));

    /// <summary>
    /// Writes every Service and its slice as YAML manifests into <paramref name="directory"/> (one file per 1000 Services),
    /// but those <paramref name="skip"/> says to leave out (a benchmark writing one Service's file of its own).
    /// </summary>
    public void WriteManifests(string directory, Func<int, bool>? skip = null)
    {
        Directory.CreateDirectory(directory);
        const int perFile = 1000;
        for (var start = 0; start < Count; start += perFile)
        {
            var text = new StringBuilder();
            for (var i = start; i < Math.Min(Count, start + perFile); i++)
                if (skip?.Invoke(i) != true)
                    AppendManifest(text, i);
            File.WriteAllText(Path.Combine(directory, $"services-{start / perFile:D5}.yaml"), text.ToString());
        }
    }

    /// <summary>Service <paramref name="index"/> and its slice as YAML (the slice's endpoints: <paramref name="endpoints"/> when given).</summary>
    public string Manifest(int index, IReadOnlyList<IPAddress>? endpoints = null)
    {
        var text = new StringBuilder();
        AppendManifest(text, index, endpoints);
        return text.ToString();
    }

    private void AppendManifest(StringBuilder text, int index, IReadOnlyList<IPAddress>? endpoints = null)
    {
        var name = ServiceName(index);
        var inv = CultureInfo.InvariantCulture;
        text.Append(inv, $"""
            apiVersion: v1
            kind: Service
            metadata: {"{"}name: {name}, namespace: {Namespace}{"}"}
            spec:
              {(IsNodePort(index) ? "type: NodePort" : "type: ClusterIP")}
              clusterIP: {ClusterIP(index)}
              ports: [{"{"}name: http, protocol: TCP, port: {ServicePort}, targetPort: {TargetPort}{(IsNodePort(index) ? $", nodePort: {NodePortOf(index)}" : "")}{"}"}]
            ---
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata:
              name: {name}-slice
              namespace: {Namespace}
              labels: {"{"}kubernetes.io/service-name: {name}{"}"}
            addressType: IPv4
            ports: [{"{"}name: http, protocol: TCP, port: {TargetPort}{"}"}]
            endpoints:

            """);
        foreach (var endpoint in endpoints ?? Enumerable.Range(0, EndpointsPerService).Select(j => Endpoint(index, j)).ToList())
            text.Append(inv, $"  - {{addresses: [{endpoint}], conditions: {{ready: true}}}}\n");
        text.Append("---\n");
    }

    private static IPAddress Shifted(IPAddress address, int generation)
    {
        var bytes = address.GetAddressBytes();
        var value = ((uint)bytes[0] << 24 | (uint)bytes[1] << 16 | (uint)bytes[2] << 8 | bytes[3]) + (uint)generation * 0x0001_0000u;
        return FromUInt32(value);
    }

    private static IPAddress FromUInt32(uint value) =>
        new([(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value]);
}
