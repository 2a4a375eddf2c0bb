using System.Net;
using ProxyReplacement.Bench.Baseline;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Workload;
using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.Bench.Suites.EndToEnd;

/// <summary>No proxy: the client connects to the first endpoint's pod IP; the node has no program and no rule.</summary>
public sealed class DirectPath : IEndToEndPath
{
    public string Name => "direct to the pod IP (no proxy)";

    public PathRole Role => PathRole.Direct;

    public IActivePath Prepare(EndToEndNode node, SyntheticServices cluster, int measuredService, BenchContext context) =>
        new ActivePath(new IPEndPoint(node.Endpoints[0], EndToEndNode.ServerPort));
}

/// <summary>
/// Ours: the core dataplane loaded with the cluster programmed through the Syncer, and <c>pr_tc_from_wl</c> attached
/// at TC ingress of every pod veth's node side, where and as the daemon attaches it; the client connects to the ClusterIP.
/// Each run must have made new NAT flows and translated no socket.
/// </summary>
public sealed class TcClusterIpPath : IEndToEndPath
{
    public string Name => "ClusterIP, TC path (ours)";

    public PathRole Role => PathRole.Ours;

    public IActivePath Prepare(EndToEndNode node, SyntheticServices cluster, int measuredService, BenchContext context) =>
        new Active(WiredDataplane.Create(node, cluster), new IPEndPoint(SyntheticServices.ClusterIP(measuredService), SyntheticServices.ServicePort));

    private sealed class Active(WiredDataplane dataplane, IPEndPoint target) : IActivePath
    {
        public IPEndPoint Target { get; } = target;

        /// <summary>
        /// At least one new NAT flow per run (not one per connection: with tcp_tw_reuse a 5-tuple can come back while its
        /// conntrack pair still lives, and then its SYN is an established-flow hit), and no socket translation.
        /// </summary>
        public IRunCheck BeginRun() => dataplane.CheckRun("TC path", (moved, _) =>
            moved(CounterReason.NatNewFlow) > 0 && moved(CounterReason.SockConnect) == 0
                ? null
                : $"nat_new_flow moved by {moved(CounterReason.NatNewFlow)} (expected > 0), sock_connect by {moved(CounterReason.SockConnect)} (expected 0)");

        public void Dispose() => dataplane.Dispose();
    }
}

/// <summary>
/// Pod-to-pod traffic on a node that runs us: the direct path's target (the first endpoint's pod IP), with the same
/// dataplane and attachments as <see cref="TcClusterIpPath"/>. No Service is involved, so every packet takes the TC
/// program's pass-through (conntrack, frontend and Service CIDR misses): the per-packet price that every pod pays once
/// the proxy is installed, and the floor of the socket path, whose packets take the same pass-through. Each run must
/// have passed packets through and made no NAT flow and no socket translation.
/// </summary>
public sealed class PodIpThroughOurTcPath : IEndToEndPath
{
    public string Name => "pod IP on a node running ours (TC pass-through)";

    public PathRole Role => PathRole.Reference;

    public IActivePath Prepare(EndToEndNode node, SyntheticServices cluster, int measuredService, BenchContext context) =>
        new Active(WiredDataplane.Create(node, cluster), new IPEndPoint(node.Endpoints[0], EndToEndNode.ServerPort));

    private sealed class Active(WiredDataplane dataplane, IPEndPoint target) : IActivePath
    {
        public IPEndPoint Target { get; } = target;

        public IRunCheck BeginRun() => dataplane.CheckRun("pod IP through TC", (moved, _) =>
            moved(CounterReason.PassNoService) > 0 && moved(CounterReason.NatNewFlow) == 0 && moved(CounterReason.SockConnect) == 0
                ? null
                : $"pass_no_service moved by {moved(CounterReason.PassNoService)} (expected > 0), nat_new_flow by " +
                  $"{moved(CounterReason.NatNewFlow)} and sock_connect by {moved(CounterReason.SockConnect)} (both expected 0)");

        public void Dispose() => dataplane.Dispose();
    }
}

/// <summary>
/// The baseline: kube-proxy's iptables-mode ruleset for the same cluster (<see cref="KubeProxyRuleset"/>) restored in
/// the node namespace with the system's default iptables (iptables-nft on Debian); conntrack does the rest.
/// </summary>
public sealed class IptablesClusterIpPath : IEndToEndPath
{
    public string Name => "ClusterIP, kube-proxy iptables rules (iptables-nft)";

    public PathRole Role => PathRole.Iptables;

    public IActivePath Prepare(EndToEndNode node, SyntheticServices cluster, int measuredService, BenchContext context)
    {
        var rules = Path.GetTempFileName();
        try
        {
            using (var writer = new StreamWriter(rules))
                new KubeProxyRuleset(cluster).WriteFull(writer);
            Support.ExternalCommand.Check("ip", ["netns", "exec", node.NodeNamespace, "iptables-nft-restore"], TimeSpan.FromMinutes(10),
                context.Cancellation, rules);
        }
        finally
        {
            File.Delete(rules);
        }
        // The rules live in the node namespace and go with it.
        return new ActivePath(new IPEndPoint(SyntheticServices.ClusterIP(measuredService), SyntheticServices.ServicePort));
    }
}
