using System.Net;
using ProxyReplacement.Dataplane.Tests.Netns;

namespace ProxyReplacement.E2E.Tests.Support;

/// <summary>
/// The servers of one pod of a <see cref="ProxiedCluster"/>, named after the pod (<c>backend-b0</c> for pod 0 of node b):
/// a <see cref="NamedBackendServer"/> on <see cref="HttpPort"/> (answers with its name, or the client address it sees),
/// a TCP echo on <see cref="EchoPort"/> (bytes back as they came: payload sizes, bulk transfers) and a UDP echo on
/// <see cref="UdpPort"/> (datagrams back as they came; records each sender). Dispose stops them.
/// </summary>
internal sealed class ClusterBackend : IDisposable
{
    public const int HttpPort = 8080;
    public const int EchoPort = 7007;
    public const int UdpPort = 5353;

    private readonly List<IDisposable> _servers = [];

    private ClusterBackend(ClusterNode node, PodInterface pod)
    {
        Node = node;
        Pod = pod;
        Name = NameOf(pod);
    }

    public ClusterNode Node { get; }
    public PodInterface Pod { get; }
    public string Name { get; }
    public NamedBackendServer Http { get; private set; } = null!;
    public TcpEchoServer Echo { get; private set; } = null!;
    public UdpEchoServer Udp { get; private set; } = null!;

    /// <summary><c>backend-</c> and the pod's role: its namespace name after the topology prefix (<c>prt-xxxx-b0</c> -> <c>backend-b0</c>).</summary>
    public static string NameOf(PodInterface pod) => "backend-" + pod.Namespace[(pod.Namespace.LastIndexOf('-') + 1)..];

    public static ClusterBackend Start(ClusterNode node, PodInterface pod)
    {
        var backend = new ClusterBackend(node, pod);
        try
        {
            backend.Http = backend.Started(NamedBackendServer.Start(pod.Namespace, new IPEndPoint(pod.Address, HttpPort), backend.Name));
            backend.Echo = backend.Started(TcpEchoServer.Start(pod.Namespace, new IPEndPoint(pod.Address, EchoPort)));
            backend.Udp = backend.Started(UdpEchoServer.Start(pod.Namespace, new IPEndPoint(pod.Address, UdpPort)));
            return backend;
        }
        catch
        {
            backend.Dispose();
            throw;
        }
    }

    public override string ToString() =>
        $"{Name} ({Pod.Address} on {Node.Name}): {Http.Accepted} http and {Echo.Peers.Count} echo connections, {Udp.Peers.Count} datagrams";

    public void Dispose()
    {
        var cleanup = new CleanupSteps();
        foreach (var server in _servers)
            cleanup.Attempt(server);
        _servers.Clear();
        cleanup.ThrowIfAnyFailed(Name);
    }

    private T Started<T>(T server) where T : IDisposable
    {
        _servers.Add(server);
        return server;
    }
}
