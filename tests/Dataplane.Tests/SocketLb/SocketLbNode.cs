using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.SocketLb;
using ProxyReplacement.Dataplane.Tc;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tests.Support;
using TcApi = ProxyReplacement.Dataplane.Tc.Tc;

namespace ProxyReplacement.Dataplane.Tests.SocketLb;

/// <summary>
/// A one-node topology with the dataplane wired as the daemon wires it: <c>pr_tc_from_wl</c> at the
/// ingress of every pod veth's host side, and the socket hooks attached to a test cgroup
/// (<c>prt-xxxx-sock</c>). Maps start empty and the socket LB mode disabled: the fixture programs them.
/// Dispose removes everything in reverse order, also after a construction that failed halfway.
/// </summary>
public sealed class SocketLbNode : IDisposable
{
    private readonly List<TcAttachment> _tc = [];

    private SocketLbNode()
    {
    }

    public NodeTopology Topology { get; private set; } = null!;
    public CoreDataplane Core { get; private set; } = null!;
    public SocketLoadBalancer SocketLb { get; private set; } = null!;
    public TestCgroup Cgroup { get; private set; } = null!;
    public CgroupAttachment Hooks { get; private set; } = null!;

    /// <param name="variant">The build of both objects (tc_nat, sock_lb); Auto probes, as the daemon does.</param>
    public static SocketLbNode Create(int backendCount, DataplaneVariant variant = DataplaneVariant.Auto)
    {
        var node = new SocketLbNode();
        try
        {
            node.Topology = NodeTopology.Create(backendCount);
            node.Core = TestVariants.LoadCore(variant);
            var pods = node.Topology.Backends.Prepend(node.Topology.Client).ToList();
            node._tc.AddRange(NetworkNamespace.Run(node.Topology.NodeNamespace,
                () => pods.Select(pod => TcApi.Attach(pod.HostIfIndex, TcDirection.Ingress, node.Core.FromWorkload)).ToList()));
            node.SocketLb = TestVariants.LoadSocketLb(node.Core, variant);
            node.Cgroup = TestCgroup.Create($"{node.Topology.Prefix}-sock");
            node.Hooks = node.SocketLb.Attach(node.Cgroup.Path);
            return node;
        }
        catch
        {
            node.Dispose();
            throw;
        }
    }

    /// <summary>Runs sock_client.py in the test cgroup and <paramref name="netns"/>.</summary>
    public SocketClientResult InCgroup(string netns, params string[] arguments) => CgroupClient.Run(Cgroup.Path, netns, arguments);

    public ulong Count(CounterReason reason) => Core.ReadCounters().GetValueOrDefault(reason);

    /// <summary>The counters that are not zero, for assertion messages.</summary>
    public string Counters() =>
        "counters: " + string.Join(", ", Core.ReadCounters().Where(c => c.Value > 0).Select(c => $"{c.Key}={c.Value}"));

    public void Dispose()
    {
        Hooks?.Dispose();
        SocketLb?.Dispose();
        Cgroup?.Dispose();
        foreach (var attachment in _tc)
            attachment.Dispose();
        _tc.Clear();
        Core?.Dispose();
        Topology?.Dispose();
    }
}
