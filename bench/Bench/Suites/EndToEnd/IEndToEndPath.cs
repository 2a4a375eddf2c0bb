using System.Net;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Support;
using ProxyReplacement.Bench.Workload;

namespace ProxyReplacement.Bench.Suites.EndToEnd;

/// <summary>
/// A way for the client pod to reach the backend: directly, through the ClusterIP with our TC program, through
/// kube-proxy-style iptables rules, (later) through the ClusterIP with connect-time balancing. Adding a path is
/// one class: set the node up in <see cref="Prepare"/> and say where the client connects and how it is started.
/// </summary>
public interface IEndToEndPath
{
    /// <summary>The row label, e.g. "ClusterIP, TC path".</summary>
    string Name { get; }

    /// <summary>
    /// Makes <paramref name="node"/> serve <paramref name="cluster"/> this way (maps, programs, rules, cgroups); the
    /// result undoes all of it on Dispose (deleting the node's namespaces afterwards also would).
    /// </summary>
    IActivePath Prepare(EndToEndNode node, SyntheticServices cluster, int measuredService, BenchContext context);
}

/// <summary>A path set up on one node: where clients connect, and how a client command is started.</summary>
public interface IActivePath : IDisposable
{
    IPEndPoint Target { get; }

    /// <summary>
    /// The argv (program first) that runs <paramref name="command"/> as a client of this path: by default in the client
    /// pod's namespace pinned to the client CPU. A socket-hook path would first move the shell into its cgroup.
    /// </summary>
    IReadOnlyList<string> ClientCommand(EndToEndNode node, string command, params string[] arguments) =>
        ["ip", .. ExternalCommand.InNamespace(node.ClientNamespace, EndToEndNode.ClientCpu, command, arguments)];
}

/// <summary>An active path that only needs its own cleanup action.</summary>
public sealed class ActivePath(IPEndPoint target, Action? cleanup = null) : IActivePath
{
    public IPEndPoint Target { get; } = target;

    public void Dispose() => cleanup?.Invoke();
}
