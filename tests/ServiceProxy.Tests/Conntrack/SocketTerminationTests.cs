using System.Net;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.SocketLb;
using ProxyReplacement.ServiceProxy.Conntrack;
using ProxyReplacement.ServiceProxy.Tests.Kubernetes;

namespace ProxyReplacement.ServiceProxy.Tests.Conntrack;

/// <summary>
/// The daemon's socket termination where the kernel cannot do it, without a kernel: the loader fails as it does on a
/// kernel without BTF, the state says so, one warning is logged for the daemon's lifetime, and every removal after it is
/// counted instead of acted on. (The real terminator, its compat build and real sockets: Dataplane.Tests
/// SocketTerminationTrafficTests and the e2e SocketLbTests.)
/// </summary>
public sealed class SocketTerminationTests
{
    private static FlowTarget Target(L4Protocol protocol, string backend = "10.244.2.7") =>
        new(new NatFrontendKey4(IPAddress.Parse("10.96.0.10"), 80, protocol), new NatBackendValue4(IPAddress.Parse(backend), 8080));

    private static SocketTerminator NoBtf() =>
        throw new BpfException("loading BPF object sock_destroy into the kernel", Errno.ENOENT, "libbpf: Error loading vmlinux BTF: -2");

    [Test]
    public void Without_kernel_support_it_warns_once_and_counts_every_removal_it_cannot_act_on()
    {
        using var logs = new CollectingLoggerProvider();
        var metrics = new SocketTerminationMetrics();
        using var termination = new SocketTermination(NoBtf, "/nonexistent-cgroup", metrics, logs.CreateLogger("SocketTermination"),
            scan: _ => throw new AssertionException("nothing is scanned when the terminator is unavailable"));

        var state = termination.Start();
        termination.Terminate(new HashSet<FlowTarget> { Target(L4Protocol.Tcp) });
        termination.Terminate(new HashSet<FlowTarget> { Target(L4Protocol.Udp), Target(L4Protocol.Udp, "10.244.2.8") });

        var warnings = logs.Lines.Where(line => line.StartsWith("Warning", StringComparison.Ordinal)).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(state, Is.EqualTo(SocketTerminationState.Unavailable));
            Assert.That(termination.Variant, Is.Null);
            Assert.That(warnings, Has.Count.EqualTo(1), string.Join("\n", logs.Lines));
            Assert.That(warnings[0], Does.Contain("Socket termination unavailable").And.Contain("Error loading vmlinux BTF")
                .And.Contain("Needs Linux 6.5 with BTF"));
            Assert.That(metrics.Runs(SocketTerminationMetrics.RunUnavailable).Value, Is.EqualTo(2), "each removal counted");
            Assert.That(metrics.Runs(SocketTerminationMetrics.RunDone).Value, Is.Zero);
            Assert.That(metrics.Supported.Value, Is.Zero);
        });
    }

    [Test]
    public void Before_start_and_for_protocols_the_hooks_do_not_translate_it_does_nothing()
    {
        using var logs = new CollectingLoggerProvider();
        var metrics = new SocketTerminationMetrics();
        var loads = 0;
        using var termination = new SocketTermination(() =>
        {
            loads++;
            return NoBtf();
        }, "/nonexistent-cgroup", metrics, logs.CreateLogger("SocketTermination"));

        termination.Terminate(new HashSet<FlowTarget> { Target(L4Protocol.Tcp) }); // not started: no hooks
        termination.Start();
        termination.Terminate(new HashSet<FlowTarget> { Target(L4Protocol.Sctp) });

        Assert.Multiple(() =>
        {
            Assert.That(loads, Is.EqualTo(1), "loaded by Start only");
            Assert.That(metrics.Runs(SocketTerminationMetrics.RunUnavailable).Value, Is.Zero, "an SCTP pair is never a socket of the hooks");
        });
    }
}
