using System.Net;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.E2E.Tests.Policy;

/// <summary>
/// One of the nine pods of the truth table: Kubernetes namespace <see cref="Namespace"/> (x, y or z) and name
/// <see cref="Name"/> (a, b or c), placed on a network namespace of the cluster topology (<see cref="Interface"/>) of
/// node <see cref="Node"/>. It serves ports 80 and 81 over TCP and UDP (<see cref="PolicyPodServers"/>), as the pod
/// manifest's container ports say.
/// </summary>
internal sealed record PolicyPod(string Namespace, string Name, ClusterNode Node, PodInterface Interface)
{
    /// <summary>The ports every pod serves, over TCP and UDP.</summary>
    public static readonly IReadOnlyList<int> Ports = [80, 81];

    /// <summary>The Kubernetes namespaces, in table order.</summary>
    public static readonly IReadOnlyList<string> Namespaces = ["x", "y", "z"];

    /// <summary>The pod names in every namespace, in table order.</summary>
    public static readonly IReadOnlyList<string> Names = ["a", "b", "c"];

    public IPAddress Address => Interface.Address;

    /// <summary><c>x/a</c>: how tables and failures name the pod.</summary>
    public string Id => $"{Namespace}/{Name}";

    /// <summary>
    /// Which node holds pod <paramref name="name"/> of namespace <paramref name="ns"/>: node (n + p) mod 3, so every node
    /// holds one pod of each namespace and one of each name, and every row of the table has same-node and cross-node
    /// cells (node a: x/a, y/c, z/b; node b: x/b, y/a, z/c; node c: x/c, y/b, z/a).
    /// </summary>
    public static int NodeIndexOf(string ns, string name, int nodeCount) =>
        (IndexOf(Namespaces, ns) + IndexOf(Names, name)) % nodeCount;

    /// <summary>The port names of the pod manifest's container: <c>serve-80-tcp</c>, <c>serve-81-udp</c>, ...</summary>
    public static string PortName(int port, L4 protocol) => $"serve-{port}-{protocol.ToString().ToLowerInvariant()}";

    public override string ToString() => $"{Id} ({Address} on {Node.Name})";

    private static int IndexOf(IReadOnlyList<string> list, string value)
    {
        for (var i = 0; i < list.Count; i++)
            if (list[i] == value)
                return i;
        throw new ArgumentException($"'{value}' is not one of {string.Join(", ", list)}", nameof(value));
    }
}

/// <summary>The transport protocols the truth table probes.</summary>
internal enum L4
{
    Tcp,
    Udp,
}

/// <summary>
/// The servers of one <see cref="PolicyPod"/>: on each of <see cref="PolicyPod.Ports"/>, a TCP server answering every line
/// <c>l</c> with <c>x/a: l</c> (a <see cref="NamedBackendServer"/> named after the pod, so a probe knows which pod
/// answered) and a UDP echo. Dispose stops them.
/// </summary>
internal sealed class PolicyPodServers : IDisposable
{
    private readonly List<IDisposable> _servers = [];

    private PolicyPodServers()
    {
    }

    public static PolicyPodServers Start(PolicyPod pod)
    {
        var servers = new PolicyPodServers();
        try
        {
            foreach (var port in PolicyPod.Ports)
            {
                var endpoint = new IPEndPoint(pod.Address, port);
                servers._servers.Add(NamedBackendServer.Start(pod.Interface.Namespace, endpoint, pod.Id));
                servers._servers.Add(UdpEchoServer.Start(pod.Interface.Namespace, endpoint));
            }
            return servers;
        }
        catch
        {
            servers.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        var cleanup = new CleanupSteps();
        foreach (var server in _servers)
            cleanup.Attempt(server);
        _servers.Clear();
        cleanup.ThrowIfAnyFailed("policy pod servers");
    }
}
