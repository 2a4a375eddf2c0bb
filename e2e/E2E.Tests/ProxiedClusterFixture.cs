using System.Net;
using NUnit.Framework.Interfaces;
using ProxyReplacement.Dataplane.Tests.Support;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.E2E.Tests;

/// <summary>
/// Per fixture (the cluster takes a few seconds; its tests share it): a <see cref="ProxiedCluster"/> of three nodes
/// with two pods each (<see cref="PodsPerNode"/>), the Services of <see cref="Services"/> written to the shared manifest directory, and (unless
/// <see cref="WithDaemons"/> is false) a daemon on every node started with <see cref="DaemonArguments"/> and ready
/// with every Service programmed. On a failed test every node's logs and dump go to the test output; the cluster is
/// removed after the fixture either way.
/// </summary>
[Category("Privileged")]
[NonParallelizable]
public abstract class ProxiedClusterFixture
{
    /// <summary>ClusterIP 10.96.0.10, nodePorts 30080-30082, externalTrafficPolicy Cluster: its only endpoint is pod b0 (node b).</summary>
    private protected static readonly ClusterService Web = new("web", IPAddress.Parse("10.96.0.10"), 30080);

    /// <summary>ClusterIP 10.96.0.20, nodePorts 30090-30092, externalTrafficPolicy Local: its only endpoint is pod b0 (node b).</summary>
    private protected static readonly ClusterService LocalWeb = new("local-web", IPAddress.Parse("10.96.0.20"), 30090, LocalExternalTrafficPolicy: true);

    private ProxiedCluster? _cluster;

    private protected ProxiedCluster Cluster => _cluster ?? throw new InvalidOperationException("OneTimeSetUp did not complete");

    private protected ProxiedClusterNode NodeA => Cluster.Node("node-a");
    private protected ProxiedClusterNode NodeB => Cluster.Node("node-b");
    private protected ProxiedClusterNode NodeC => Cluster.Node("node-c");

    /// <summary>Whether the fixture starts the daemons.</summary>
    protected virtual bool WithDaemons => true;

    /// <summary>Super-packets (TSO/GSO, the kernel's default on veths) instead of wire-sized packets: see <see cref="ProxiedCluster.Create"/>.</summary>
    private protected virtual bool SegmentationOffload => false;

    /// <summary>Pods (each with its <see cref="ClusterBackend"/>) on every one of the three nodes.</summary>
    private protected virtual int PodsPerNode => 2;

    /// <summary>Added to every daemon's command line.</summary>
    private protected virtual string[] DaemonArguments => [];

    /// <summary>The Services the fixture writes, with their endpoints.</summary>
    private protected virtual IEnumerable<(ClusterService Service, string[] Backends)> Services =>
        [(Web, ["b0"]), (LocalWeb, ["b0"])];

    [OneTimeSetUp]
    public async Task StartClusterAsync()
    {
        Privileged.Require();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var cluster = ProxiedCluster.Create(nodeCount: 3, podsPerNode: PodsPerNode, segmentationOffload: SegmentationOffload);
        try
        {
            var created = clock.Elapsed;
            foreach (var (service, backends) in Services)
                service.WriteTo(cluster.Manifests, backends.Select(cluster.Backend));
            if (WithDaemons)
            {
                cluster.SetDaemonArguments(DaemonArguments);
                var took = await cluster.StartDaemonsAsync(node => Services.All(s => s.Service.IsProgrammed(node.PinRoot, node.Address)));
                await TestContext.Out.WriteLineAsync(
                    $"cluster {cluster.Topology.Prefix} built in {created.TotalMilliseconds:0} ms, {cluster.Nodes.Count} daemons ready {took.TotalMilliseconds:0} ms later");
            }
        }
        catch
        {
            await TestContext.Out.WriteLineAsync(cluster.Diagnostics());
            cluster.Dispose();
            throw;
        }
        _cluster = cluster;
    }

    [TearDown]
    public void PrintDiagnosticsOnFailure()
    {
        if (_cluster is not null && TestContext.CurrentContext.Result.Outcome.Status == TestStatus.Failed)
            TestContext.Out.WriteLine(_cluster.Diagnostics());
    }

    [OneTimeTearDown]
    public void RemoveCluster()
    {
        _cluster?.Dispose();
        _cluster = null;
    }
}
