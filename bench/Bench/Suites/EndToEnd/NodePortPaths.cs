using System.Net;
using ProxyReplacement.Bench.Baseline;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Support;
using ProxyReplacement.Bench.Workload;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Tests.Netns;

namespace ProxyReplacement.Bench.Suites.EndToEnd;

/// <summary>
/// A way for a client outside the node (<see cref="NodeTopology.AddExternalClient"/>) to reach the backend pod: straight
/// to the pod IP, or through the NodePort (our daemon, or kube-proxy's iptables rules). The client runs in the external
/// namespace, which routes the pod network via the node.
/// </summary>
public interface INodePortPath
{
    string Name { get; }

    PathRole Role { get; }

    IActivePath Prepare(EndToEndNode node, ExternalClient external, SyntheticServices cluster, int measuredService, BenchContext context);
}

/// <summary>An active path whose clients run in the external client's namespace, pinned to the client CPU.</summary>
public sealed class ExternalActivePath(IPEndPoint target, string clientNamespace, Func<IRunCheck>? check = null, Action? cleanup = null) : IActivePath
{
    public IPEndPoint Target { get; } = target;

    public IReadOnlyList<string> ClientCommand(EndToEndNode? node, string command, params string[] arguments) =>
        ["ip", .. ExternalCommand.InNamespace(clientNamespace, EndToEndNode.ClientCpu, command, arguments)];

    public IRunCheck BeginRun() => check?.Invoke() ?? RunCheck.None;

    public void Dispose() => cleanup?.Invoke();
}

/// <summary>No proxy: the external client connects to the first endpoint's pod IP, routed by the node; no program, no rule.</summary>
public sealed class ExternalDirectPath : INodePortPath
{
    public string Name => "external client to the pod IP (no proxy)";

    public PathRole Role => PathRole.Direct;

    public IActivePath Prepare(EndToEndNode node, ExternalClient external, SyntheticServices cluster, int measuredService, BenchContext context) =>
        new ExternalActivePath(new IPEndPoint(node.Endpoints[0], EndToEndNode.ServerPort), external.Namespace);
}

/// <summary>
/// The direct path's target on a node running our daemon: every packet takes a pass-through (<c>pr_tc_from_host</c> on
/// the way in, <c>pr_tc_from_wl</c> on the way back). Each run must have passed packets and made no NAT flow.
/// </summary>
public sealed class ExternalPodIpOnOurNodePath : INodePortPath
{
    public string Name => "external client to the pod IP, node running our daemon (pass-through)";

    public PathRole Role => PathRole.Reference;

    public IActivePath Prepare(EndToEndNode node, ExternalClient external, SyntheticServices cluster, int measuredService, BenchContext context)
    {
        var daemon = NodeDaemon.Start(node, external, cluster, measuredService, context);
        return new ExternalActivePath(new IPEndPoint(node.Endpoints[0], EndToEndNode.ServerPort), external.Namespace,
            () => daemon.CheckRun("pod IP through our programs", (moved, _) =>
                moved(CounterReason.PassNoService) > 0 && moved(CounterReason.NatNewFlow) == 0
                    ? null
                    : $"pass_no_service moved by {moved(CounterReason.PassNoService)} (expected > 0), nat_new_flow by {moved(CounterReason.NatNewFlow)} (expected 0)"),
            daemon.Dispose);
    }
}

/// <summary>
/// Ours: the real daemon; the client connects to nodeIP:nodePort of the measured Service. Each run must have made new NAT
/// flows (pr_tc_from_host) and reverse-NATed replies (pr_tc_from_wl).
/// </summary>
public sealed class NodePortOursPath : INodePortPath
{
    public string Name => "NodePort, our daemon";

    public PathRole Role => PathRole.Ours;

    public IActivePath Prepare(EndToEndNode node, ExternalClient external, SyntheticServices cluster, int measuredService, BenchContext context)
    {
        var daemon = NodeDaemon.Start(node, external, cluster, measuredService, context);
        return new ExternalActivePath(new IPEndPoint(external.NodeAddress, SyntheticServices.NodePortOf(measuredService)), external.Namespace,
            () => daemon.CheckRun("NodePort through our programs", (moved, _) =>
                moved(CounterReason.NatNewFlow) > 0 && moved(CounterReason.NatReverse) > 0
                    ? null
                    : $"nat_new_flow moved by {moved(CounterReason.NatNewFlow)}, nat_reverse by {moved(CounterReason.NatReverse)} (both expected > 0)"),
            daemon.Dispose);
    }
}

/// <summary>
/// The baseline: kube-proxy's iptables-mode ruleset for the same cluster, KUBE-NODEPORTS included
/// (<see cref="KubeProxyRuleset"/>), restored in the node namespace with iptables-nft; the client connects to
/// nodeIP:nodePort. The rules live in the node namespace and go with it.
/// </summary>
public sealed class NodePortIptablesPath : INodePortPath
{
    public string Name => "NodePort, kube-proxy iptables rules (iptables-nft)";

    public PathRole Role => PathRole.Iptables;

    public IActivePath Prepare(EndToEndNode node, ExternalClient external, SyntheticServices cluster, int measuredService, BenchContext context)
    {
        var rules = Path.GetTempFileName();
        try
        {
            using (var writer = new StreamWriter(rules))
                new KubeProxyRuleset(cluster).WriteFull(writer);
            ExternalCommand.Check("ip", ["netns", "exec", node.NodeNamespace, "iptables-nft-restore"], TimeSpan.FromMinutes(10),
                context.Cancellation, rules);
        }
        finally
        {
            File.Delete(rules);
        }
        return new ExternalActivePath(new IPEndPoint(external.NodeAddress, SyntheticServices.NodePortOf(measuredService)), external.Namespace);
    }
}
