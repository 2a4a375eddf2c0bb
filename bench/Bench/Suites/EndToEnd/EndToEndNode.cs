using System.Net;
using System.Reflection;
using ProxyReplacement.Bench.Support;
using ProxyReplacement.Dataplane.Tests.Netns;

namespace ProxyReplacement.Bench.Suites.EndToEnd;

/// <summary>
/// One node of the end-to-end benchmark: a <see cref="NodeTopology"/> (node namespace routing between a client pod
/// and one backend pod) whose backend pod holds <see cref="EndpointCount"/> addresses, so the measured Service has
/// that many endpoints all served by one server process. The server (the native HTTP server, or iperf3 -s) runs on
/// <see cref="ServerCpu"/>; clients run on <see cref="ClientCpu"/>. Dispose stops the server and deletes the namespaces.
/// </summary>
public sealed class EndToEndNode : IDisposable
{
    public const int EndpointCount = 4;
    public const ushort ServerPort = 8080;
    public const string ClientCpu = "0";
    public const string ServerCpu = "1";

    private readonly NodeTopology _topology;
    private BackgroundProcess? _server;

    private EndToEndNode(NodeTopology topology, IReadOnlyList<IPAddress> endpoints)
    {
        _topology = topology;
        Endpoints = endpoints;
    }

    public NodeTopology Topology => _topology;
    public string NodeNamespace => _topology.NodeNamespace;
    public string ClientNamespace => _topology.Client.Namespace;
    public string BackendNamespace => _topology.Backends[0].Namespace;

    /// <summary>The backend pod's addresses: the measured Service's endpoints; the first is the "direct" target.</summary>
    public IReadOnlyList<IPAddress> Endpoints { get; }

    public static EndToEndNode Create()
    {
        var topology = NodeTopology.Create(backendCount: 1);
        try
        {
            var backend = topology.Backends[0];
            var first = backend.Address.GetAddressBytes();
            var endpoints = Enumerable.Range(0, EndpointCount).Select(i => new IPAddress([first[0], first[1], first[2], (byte)(first[3] + i)])).ToList();
            foreach (var extra in endpoints.Skip(1))
                IpCommand.Ip("-n", backend.Namespace, "address", "add", $"{extra}/24", "dev", "eth0");
            // Short connections at tens of thousands per second: reuse TIME_WAIT ports (a second after close) from a wide range.
            IpCommand.Sysctl(topology.Client.Namespace, "net.ipv4.ip_local_port_range", "1024 65535");
            IpCommand.Sysctl(topology.Client.Namespace, "net.ipv4.tcp_tw_reuse", "1");
            return new EndToEndNode(topology, endpoints);
        }
        catch
        {
            topology.Dispose();
            throw;
        }
    }

    /// <summary>Starts the native HTTP server (or iperf3 -s) on 0.0.0.0:<see cref="ServerPort"/> in the backend pod, replacing the running one.</summary>
    public void StartServer(ServerKind kind, CancellationToken cancellation)
    {
        StopServer();
        var (command, arguments, ready) = kind == ServerKind.Http
            ? (HttpServerBinary, new[] { "0.0.0.0", ServerPort.ToString(System.Globalization.CultureInfo.InvariantCulture) }, "listening")
            : ("iperf3", new[] { "-s", "--forceflush", "-p", ServerPort.ToString(System.Globalization.CultureInfo.InvariantCulture) }, "Server listening");
        _server = BackgroundProcess.Start("ip", ExternalCommand.InNamespace(BackendNamespace, ServerCpu, command, arguments),
            line => line.Contains(ready, StringComparison.Ordinal));
        _server.WaitUntilReady(TimeSpan.FromSeconds(20), cancellation);
    }

    public void StopServer()
    {
        _server?.Dispose();
        _server = null;
    }

    public void Dispose()
    {
        try
        {
            StopServer();
        }
        finally
        {
            _topology.Dispose();
        }
    }

    /// <summary>bench/native/build/bench_httpd, built with the harness.</summary>
    public static string HttpServerBinary => NativeTool("bench_httpd");

    /// <summary>bench/native/build/connect_latency, built with the harness.</summary>
    public static string ConnectLatencyBinary => NativeTool("connect_latency");

    /// <summary>bench/native/build/http_rr, built with the harness.</summary>
    public static string HttpRequestResponseBinary => NativeTool("http_rr");

    /// <summary>bench/native/build/latency_probe, built with the harness.</summary>
    public static string LatencyProbeBinary => NativeTool("latency_probe");

    /// <summary>A tool of bench/native (built into bench/native/build by the harness's build).</summary>
    private static string NativeTool(string name)
    {
        var root = typeof(EndToEndNode).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .First(attribute => attribute.Key == "RepositoryRoot").Value!;
        var path = Path.Combine(root, "bench", "native", "build", name);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{path} is missing: build the harness (make build)", path);
    }
}

public enum ServerKind
{
    Http,
    Iperf,
}
