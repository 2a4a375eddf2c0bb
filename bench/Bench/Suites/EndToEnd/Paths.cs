using System.Net;
using ProxyReplacement.Bench.Baseline;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Workload;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tc;
using ProxyReplacement.ServiceProxy.Daemon;

namespace ProxyReplacement.Bench.Suites.EndToEnd;

/// <summary>No proxy: the client connects to the first endpoint's pod IP; the node has no program and no rule.</summary>
public sealed class DirectPath : IEndToEndPath
{
    public string Name => "direct to the pod IP (no proxy)";

    public IActivePath Prepare(EndToEndNode node, SyntheticServices cluster, int measuredService, BenchContext context) =>
        new ActivePath(new IPEndPoint(node.Endpoints[0], EndToEndNode.ServerPort));
}

/// <summary>
/// Ours: the core dataplane loaded with the cluster programmed through the Syncer, and <c>pr_tc_from_wl</c> attached
/// at TC ingress of every pod veth's node side, where and as the daemon attaches it; the client connects to the ClusterIP.
/// </summary>
public sealed class TcClusterIpPath : IEndToEndPath
{
    public string Name => "ClusterIP, TC path (ours)";

    public IActivePath Prepare(EndToEndNode node, SyntheticServices cluster, int measuredService, BenchContext context)
    {
        var dataplane = ProgrammedMaps.Load(cluster.Count, cluster.EndpointsPerService);
        var attachments = new List<TcAttachment>();
        try
        {
            ProgrammedMaps.Program(dataplane, cluster);
            PodInterface[] interfaces = [node.Topology.Client, .. node.Topology.Backends];
            NetworkNamespace.Run(node.NodeNamespace, () =>
            {
                foreach (var pod in interfaces)
                    attachments.Add(Tc.Attach(pod.HostIfIndex, TcDirection.Ingress, dataplane.FromWorkload, AttachPoint.Priority, AttachPoint.Handle));
            });
        }
        catch
        {
            Release();
            throw;
        }
        return new ActivePath(new IPEndPoint(SyntheticServices.ClusterIP(measuredService), SyntheticServices.ServicePort), Release);

        void Release()
        {
            foreach (var attachment in attachments)
                attachment.Dispose();
            dataplane.Dispose();
        }
    }
}

/// <summary>
/// The baseline: kube-proxy's iptables-mode ruleset for the same cluster (<see cref="KubeProxyRuleset"/>) restored in
/// the node namespace with the system's default iptables (iptables-nft on Debian); conntrack does the rest.
/// </summary>
public sealed class IptablesClusterIpPath : IEndToEndPath
{
    public string Name => "ClusterIP, kube-proxy iptables rules (iptables-nft)";

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
