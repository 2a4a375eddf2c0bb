using System.Net;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.SocketLb;
using ProxyReplacement.Dataplane.Tests.Support;
using ProxyReplacement.ServiceProxy.Conntrack;
using ProxyReplacement.ServiceProxy.Tests.Kubernetes;

namespace ProxyReplacement.ServiceProxy.Tests.Conntrack;

/// <summary>
/// The daemon's socket termination with the real sock_destroy.bpf.o (no sockets: those are Dataplane.Tests'
/// SocketTerminationTrafficTests and the e2e SocketLbTests): what it says and counts in each state.
/// </summary>
[Category("Privileged")]
[NonParallelizable]
public sealed class SocketTerminationKernelTests
{
    private static readonly HashSet<FlowTarget> Gone =
        [new(new NatFrontendKey4(IPAddress.Parse("10.96.0.10"), 80, L4Protocol.Tcp), new NatBackendValue4(IPAddress.Parse("10.244.2.7"), 8080))];

    private static CoreDataplane LoadCore()
    {
        Privileged.Require();
        return CoreDataplane.Load(new DataplaneOptions { Sizes = new CoreMapSizes(16, 16, 16, 16, 16) });
    }

    [Test]
    public void Processes_it_cannot_reach_are_warned_about_once_and_gauged()
    {
        using var core = LoadCore();
        using var logs = new CollectingLoggerProvider();
        var metrics = new SocketTerminationMetrics();
        // As in a container without hostPID: the cgroup lists three processes as pid 0; only the daemon's own namespace is found.
        var own = new CgroupNamespace(NetworkNamespace.CurrentIdentity(), [Environment.ProcessId]);
        using var termination = new SocketTermination(() => SocketTerminator.Load(core), "/fake", metrics, logs.CreateLogger("SocketTermination"),
            _ => new CgroupNamespaceScan([own], 4, [], Invisible: 3));

        var state = termination.Start();
        termination.Terminate(Gone);
        termination.Terminate(Gone);

        var warnings = logs.Lines.Where(l => l.StartsWith("Warning", StringComparison.Ordinal)).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(state, Is.EqualTo(SocketTerminationState.Ready));
            Assert.That(logs.Lines, Has.Some.Contains("Socket termination ready"));
            Assert.That(warnings, Has.Count.EqualTo(1), string.Join("\n", logs.Lines));
            Assert.That(warnings[0], Does.Contain("3 of the cgroup's 4 processes are outside this pid namespace").And.Contain("hostPID"));
            Assert.That(metrics.UnreachableProcesses.Value, Is.EqualTo(3));
            Assert.That(metrics.Runs(SocketTerminationMetrics.RunDone).Value, Is.EqualTo(2));
            Assert.That(metrics.Supported.Value, Is.EqualTo(1));
        });
    }

    [Test]
    public void The_compat_build_is_reported_once_as_unavailable_with_its_reason()
    {
        using var core = LoadCore();
        using var logs = new CollectingLoggerProvider();
        var metrics = new SocketTerminationMetrics();
        using var termination = new SocketTermination(() => SocketTerminator.Load(core, DataplaneVariant.Compat), "/fake", metrics,
            logs.CreateLogger("SocketTermination"), _ => new CgroupNamespaceScan([], 0, []));

        var state = termination.Start();
        termination.Terminate(Gone);

        var warnings = logs.Lines.Where(l => l.StartsWith("Warning", StringComparison.Ordinal)).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(state, Is.EqualTo(SocketTerminationState.CountOnly));
            Assert.That(termination.Variant?.Variant, Is.EqualTo(DataplaneVariant.Compat));
            Assert.That(warnings, Has.Count.EqualTo(1), string.Join("\n", logs.Lines));
            Assert.That(warnings[0], Does.Contain("Socket termination unavailable: requested by the caller"));
            Assert.That(metrics.Supported.Value, Is.Zero);
        });
    }
}
