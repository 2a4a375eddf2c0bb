using System.Net;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Support;
using ProxyReplacement.Bench.Workload;

namespace ProxyReplacement.Bench.Suites.EndToEnd;

/// <summary>
/// A way for the client pod to reach the backend: directly, through the ClusterIP with our TC program, through
/// the ClusterIP with connect-time balancing (socket hooks), through kube-proxy-style iptables rules. Adding a path
/// is one class: set the node up in <see cref="Prepare"/> and say where the client connects and how it is started.
/// </summary>
public interface IEndToEndPath
{
    /// <summary>The row label, e.g. "ClusterIP, TC path".</summary>
    string Name { get; }

    /// <summary>What the path's rows are compared with (see <see cref="PathRole"/>).</summary>
    PathRole Role { get; }

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
    /// pod's namespace pinned to the client CPU. The socket path first moves the shell into its cgroup. Paths whose
    /// client is not on an <see cref="EndToEndNode"/> (<see cref="ExternalActivePath"/>) get null and ignore it.
    /// </summary>
    IReadOnlyList<string> ClientCommand(EndToEndNode? node, string command, params string[] arguments) =>
        ["ip", .. ExternalCommand.InNamespace((node ?? throw new ArgumentNullException(nameof(node))).ClientNamespace, EndToEndNode.ClientCpu,
            command, arguments)];

    /// <summary>
    /// Called before each measured client run; the result's <see cref="IRunCheck.Verify"/>, called after it, fails the
    /// run when the traffic did not take this path (e.g. a socket path whose hooks translated nothing). By default none.
    /// </summary>
    IRunCheck BeginRun() => RunCheck.None;
}

/// <summary>The self-check of one measured run: evidence, read from the dataplane, that the traffic took the path.</summary>
public interface IRunCheck
{
    /// <summary>Throws when the run did not go the path's way.</summary>
    /// <param name="connections">TCP connections the client completed in the run, at least (wrk's requests on short connections).</param>
    /// <param name="run">What ran, for the error.</param>
    void Verify(long connections, string run);
}

public static class RunCheck
{
    /// <summary>No evidence to check (the direct path, the iptables path).</summary>
    public static IRunCheck None { get; } = new NoCheck();

    private sealed class NoCheck : IRunCheck
    {
        public void Verify(long connections, string run)
        {
        }
    }
}

/// <summary>How a path's figures are compared: every path against <see cref="Direct"/>, each of ours also against each <see cref="Iptables"/> and <see cref="Reference"/> path.</summary>
public enum PathRole
{
    /// <summary>No proxy: the baseline of every ratio (the suite's first path).</summary>
    Direct,

    /// <summary>One of our dataplane's paths; the targets apply to it.</summary>
    Ours,

    /// <summary>The kube-proxy iptables baseline that ours are compared with.</summary>
    Iptables,

    /// <summary>
    /// Not a Service path: what pod-to-pod traffic costs on a node running ours; compared with direct, and ours with it
    /// (what the Service translation itself adds on top of having the proxy installed).
    /// </summary>
    Reference,
}

/// <summary>An active path that only needs its own cleanup action.</summary>
public sealed class ActivePath(IPEndPoint target, Action? cleanup = null) : IActivePath
{
    public IPEndPoint Target { get; } = target;

    public void Dispose() => cleanup?.Invoke();
}
