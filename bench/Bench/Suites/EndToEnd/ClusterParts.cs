using System.Globalization;
using System.Text;
using ProxyReplacement.Bench.Support;
using ProxyReplacement.Dataplane.Tests.Netns;

namespace ProxyReplacement.Bench.Suites.EndToEnd;

/// <summary>
/// What the many-node bench clusters (<see cref="BenchCluster"/>, <see cref="PolicyBenchCluster"/>) print when a run fails
/// and how they take themselves apart: one place for both.
/// </summary>
internal static class ClusterParts
{
    /// <summary>Each daemon's log and <c>service-proxy dump</c>.</summary>
    public static string Diagnostics(IReadOnlyDictionary<string, NodeDaemon> daemons, ClusterTopology topology)
    {
        var text = new StringBuilder();
        foreach (var (name, daemon) in daemons)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"===== {name}: log");
            text.AppendLine(daemon.Output);
            text.AppendLine(CultureInfo.InvariantCulture, $"===== {name}: service-proxy dump");
            try
            {
                text.AppendLine(IpCommand.InNamespace(topology.Node(name).Namespace, MemorySuite.DaemonBinary, "dump", "--bpffs-root", daemon.PinRoot));
            }
            catch (Exception error)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"(dump failed: {error.Message})");
            }
        }
        return text.ToString();
    }

    /// <summary>
    /// Stops the daemons and servers, deletes the namespaces (the veths and the bridge go with them, and with them the tc
    /// filters) and the work directory; every step is attempted, the failures reported together.
    /// </summary>
    public static void Dispose(string what, Dictionary<string, NodeDaemon> daemons, List<BackgroundProcess> servers,
        ref ClusterTopology? topology, ref DirectoryInfo? work)
    {
        var failures = new List<Exception>();
        void Attempt(Action step)
        {
            try
            {
                step();
            }
            catch (Exception error)
            {
                failures.Add(error);
            }
        }
        foreach (var daemon in daemons.Values)
            Attempt(daemon.Dispose);
        daemons.Clear();
        foreach (var server in servers)
            Attempt(server.Dispose);
        servers.Clear();
        if (topology is { } nodes)
            Attempt(nodes.Dispose);
        topology = null;
        if (work is { } directory)
            Attempt(() => directory.Delete(recursive: true));
        work = null;
        if (failures.Count > 0)
            throw new AggregateException($"{what} cleanup failed", failures);
    }
}
