using System.Net;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Support;
using ProxyReplacement.Bench.Workload;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.SocketLb;
using ProxyReplacement.Dataplane.Tests.Netns;

namespace ProxyReplacement.Bench.Suites.EndToEnd;

/// <summary>
/// Ours with connect-time balancing: the node wired as for the TC path (<see cref="WiredDataplane"/>: the TC program
/// stays on every pod veth, as with the daemon), socket LB mode <c>tcp</c> (the daemon's default), and the four
/// sock_addr programs attached to a scratch cgroup <c>&lt;cgroup2 root&gt;/prt-xxxx-sock</c> (never the root cgroup;
/// the root is <see cref="BenchSettings.Cgroup2Root"/>, else PR_CGROUP2_ROOT, else the first cgroup2 mount). The
/// client runs inside that cgroup and connects to the ClusterIP; its connect() is rewritten to a backend, so the
/// packets carry the backend address and the TC program passes them. Each run must show it: sock_connect moved by
/// at least the connections the client made, nat_new_flow did not move, and pr_ct4 holds no entry.
/// </summary>
public sealed class SocketClusterIpPath : IEndToEndPath
{
    public string Name => "ClusterIP, socket path (ours)";

    public PathRole Role => PathRole.Ours;

    public IActivePath Prepare(EndToEndNode node, SyntheticServices cluster, int measuredService, BenchContext context)
    {
        var dataplane = WiredDataplane.Create(node, cluster);
        SocketLoadBalancer? socketLb = null;
        TestCgroup? cgroup = null;
        CgroupAttachment? hooks = null;
        try
        {
            dataplane.Core.SetSocketLbMode(SocketLbMode.Tcp);
            // The daemon records its own namespace as the host's; here the node namespace plays the host.
            dataplane.Core.SetHostNetnsCookie(NetworkNamespace.Run(node.NodeNamespace, NetnsCookie.OfCurrentThread));
            socketLb = SocketLoadBalancer.Load(dataplane.Core);
            cgroup = TestCgroup.Create($"{node.Topology.Prefix}-sock", context.Settings.Cgroup2Root);
            hooks = socketLb.Attach(cgroup.Path);
            var target = new IPEndPoint(SyntheticServices.ClusterIP(measuredService), SyntheticServices.ServicePort);
            return new Active(target, dataplane, socketLb, cgroup, hooks);
        }
        catch
        {
            Release(dataplane, socketLb, cgroup, hooks);
            throw;
        }
    }

    /// <summary>
    /// The client command run in the node's client namespace, pinned to the client CPU, from inside the cgroup at
    /// <paramref name="cgroupPath"/>: the shell writes its own pid into the cgroup, then execs <c>ip netns exec</c> (which
    /// remounts /sys, so the cgroup file is out of reach after it) and the client: every process of the client is in the
    /// cgroup from its start.
    /// </summary>
    public static IReadOnlyList<string> InCgroup(string cgroupPath, EndToEndNode node, string command, params string[] arguments) =>
    [
        "sh", "-c", "procs=$1; shift; echo $$ > \"$procs\" && exec ip \"$@\"", "sh", Path.Combine(cgroupPath, "cgroup.procs"),
        .. ExternalCommand.InNamespace(node.ClientNamespace, EndToEndNode.ClientCpu, command, arguments),
    ];

    /// <summary>Detaches the hooks first (no new translation), then removes the cgroup (its clients have exited), then the rest.</summary>
    private static void Release(WiredDataplane dataplane, SocketLoadBalancer? socketLb, TestCgroup? cgroup, CgroupAttachment? hooks)
    {
        try
        {
            hooks?.Dispose();
            socketLb?.Dispose();
            cgroup?.Dispose();
        }
        finally
        {
            dataplane.Dispose();
        }
    }

    private sealed class Active(IPEndPoint target, WiredDataplane dataplane, SocketLoadBalancer socketLb, TestCgroup cgroup,
        CgroupAttachment hooks) : IActivePath
    {
        public IPEndPoint Target { get; } = target;

        /// <summary>The client in the hooks' cgroup (<see cref="InCgroup"/>).</summary>
        public IReadOnlyList<string> ClientCommand(EndToEndNode? node, string command, params string[] arguments) =>
            InCgroup(cgroup.Path, node ?? throw new ArgumentNullException(nameof(node)), command, arguments);

        /// <summary>Every connection translated at the socket (one sock_connect each), none NATed by TC, no conntrack entry.</summary>
        public IRunCheck BeginRun() => dataplane.CheckRun("socket path", (moved, connections) =>
        {
            var translated = moved(CounterReason.SockConnect);
            var newFlows = moved(CounterReason.NatNewFlow);
            var conntrack = dataplane.Core.Conntrack.ReadAll().Count;
            return translated >= (ulong)Math.Max(connections, 1) && newFlows == 0 && conntrack == 0
                ? null
                : $"sock_connect moved by {translated} (expected at least {connections}, one per connection), nat_new_flow by {newFlows} " +
                  $"(expected 0), pr_ct4 holds {conntrack} entries (expected 0)";
        });

        public void Dispose() => Release(dataplane, socketLb, cgroup, hooks);
    }
}
