using System.Net;
using System.Text;

namespace ProxyReplacement.E2E.Tests.Support;

/// <summary>
/// The daemon's <c>--manifest-dir</c>: one file for the Service, one for its EndpointSlice, each
/// replaced atomically (written beside the directory, then renamed in) so the daemon never reads a
/// half-written file.
/// </summary>
internal sealed class ManifestDirectory
{
    public const string ServiceFile = "service.yaml";
    public const string EndpointSliceFile = "endpointslice.yaml";

    private readonly string _staging;

    /// <param name="workDirectory">A private temp directory; the manifests go into its <c>manifests</c> subdirectory.</param>
    public ManifestDirectory(string workDirectory)
    {
        _staging = workDirectory;
        Path = System.IO.Path.Combine(workDirectory, "manifests");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <param name="clientIpAffinity">Whether the Service asks for <c>sessionAffinity: ClientIP</c> (default timeout).</param>
    public void WriteService(ServiceUnderTest service, bool clientIpAffinity = false) => Replace(ServiceFile, $"""
        apiVersion: v1
        kind: Service
        metadata:
          name: {service.Name}
          namespace: {service.Namespace}
        spec:
          type: ClusterIP
          sessionAffinity: {(clientIpAffinity ? "ClientIP" : "None")}
          clusterIP: {service.Vip.Address}
          clusterIPs: [{service.Vip.Address}]
          ports:
            - name: {service.PortName}
              protocol: TCP
              port: {service.Vip.Port}
              targetPort: {service.TargetPort}

        """);

    /// <summary>The conditions of a ready endpoint.</summary>
    public const string Ready = "{ready: true}";

    /// <summary>The conditions of an endpoint whose pod is being deleted but still serves (graceful termination).</summary>
    public const string ServingTerminating = "{ready: false, serving: true, terminating: true}";

    /// <param name="triggerTime">Written as the endpoints.kubernetes.io/last-change-trigger-time annotation.</param>
    public void WriteEndpointSlice(ServiceUnderTest service, IEnumerable<IPAddress> backends, DateTimeOffset? triggerTime = null) =>
        WriteEndpointSlice(service, backends.Select(address => (address, Ready)), triggerTime);

    /// <param name="endpoints">Each endpoint's address and its conditions, as YAML (<see cref="Ready"/>, <see cref="ServingTerminating"/>).</param>
    public void WriteEndpointSlice(ServiceUnderTest service, IEnumerable<(IPAddress Address, string Conditions)> endpoints, DateTimeOffset? triggerTime = null)
    {
        var annotations = triggerTime is { } time
            ? $"\n  annotations:\n    endpoints.kubernetes.io/last-change-trigger-time: \"{time.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ}\""
            : "";
        var endpointList = new StringBuilder();
        foreach (var (address, conditions) in endpoints)
            endpointList.Append($"""
                  - addresses: [{address}]
                    conditions: {conditions}
                    nodeName: e2e-node

                """);
        Replace(EndpointSliceFile, $"""
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata:
              name: {service.Name}-e2e01
              namespace: {service.Namespace}
              labels:
                kubernetes.io/service-name: {service.Name}{annotations}
            addressType: IPv4
            ports:
              - name: {service.PortName}
                protocol: TCP
                port: {service.TargetPort}
            endpoints:

            """ + endpointList);
    }

    /// <summary>A <c>v1 Node</c>: its name, its InternalIP (the address it serves NodePorts on) and its pod CIDR.</summary>
    public static string NodeYaml(string name, IPAddress internalIp, string podCidr) => $"""
        apiVersion: v1
        kind: Node
        metadata: {"{"}name: {name}{"}"}
        spec: {"{"}podCIDR: {podCidr}, podCIDRs: [{podCidr}]{"}"}
        status:
          addresses:
          - {"{"}type: InternalIP, address: {internalIp}{"}"}
          - {"{"}type: Hostname, address: {name}{"}"}

        """;

    public void DeleteService() => File.Delete(System.IO.Path.Combine(Path, ServiceFile));

    /// <summary>Removes <paramref name="fileName"/> from the directory (nothing happens when it is not there).</summary>
    public void Delete(string fileName) => File.Delete(System.IO.Path.Combine(Path, fileName));

    /// <summary>Writes any manifest (replacing <paramref name="fileName"/> atomically), for Services the helpers above do not cover.</summary>
    public void Write(string fileName, string yaml) => Replace(fileName, yaml);

    private void Replace(string fileName, string content)
    {
        var staged = System.IO.Path.Combine(_staging, fileName + ".tmp");
        File.WriteAllText(staged, content);
        File.Move(staged, System.IO.Path.Combine(Path, fileName), overwrite: true);
    }
}

/// <summary>The Service the tests program: ClusterIP VIP:port forwarding to TargetPort on each backend.</summary>
internal sealed record ServiceUnderTest(string Namespace, string Name, string PortName, IPEndPoint Vip, int TargetPort)
{
    public static ServiceUnderTest Web { get; } = new("e2e", "web", "http", new IPEndPoint(IPAddress.Parse("10.96.0.10"), 80), 8080);
}
