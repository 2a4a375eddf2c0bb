using System.Net;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.Tc;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.E2E.Tests;

/// <summary><c>service-proxy cleanup</c> removes what the daemon left behind on purpose (attached programs, pins).</summary>
[TestFixture]
public sealed class CleanupTests : ProxiedNodeFixture
{
    // The daemon's TC filter: ingress, priority 1, handle 0x5052 ("PR").
    private const uint FilterPriority = 1;
    private const uint FilterHandle = 0x5052;

    [Test]
    public async Task Cleanup_in_the_node_namespace_detaches_the_programs_and_removes_the_pins()
    {
        var exitCode = Node.Daemon!.Terminate(TimeSpan.FromSeconds(15));
        var attachedBefore = AttachedPrograms();
        var pinsBefore = PinnedNatMaps.CorePins(Node.PinRoot);

        var output = Node.RunCli("cleanup", "--bpffs-root", Node.PinRoot);

        var attachedAfter = AttachedPrograms();
        var pinsAfter = PinnedNatMaps.CorePins(Node.PinRoot);
        await TestContext.Out.WriteLineAsync($"cleanup printed: {output.Trim()}");
        await TestContext.Out.WriteLineAsync($"before: programs {Describe(attachedBefore)}; pins {string.Join(", ", pinsBefore)}");
        // Pods still reach each other directly: cleanup removed the proxy, not the node's routing.
        var backend = Node.Topology.Backends[0];
        var direct = await ServiceClient.AskOnceAsync(Node.ClientNamespace, new IPEndPoint(backend.Address, Node.Service.TargetPort));

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.Zero, "daemon exit code after SIGTERM");
            Assert.That(attachedBefore.Values, Has.All.Not.Null, "the daemon attached a program to every workload interface");
            Assert.That(pinsBefore, Is.Not.Empty, "the daemon pinned its maps");
            Assert.That(attachedAfter.Values, Has.All.Null, $"programs still attached after cleanup: {Describe(attachedAfter)}");
            Assert.That(pinsAfter, Is.Empty, "pins left after cleanup");
            Assert.That(direct, Is.EqualTo(ProxiedNode.BackendName(0)));
        });
    }

    /// <summary>The program id at the daemon's filter on each pod's node-side veth (null: none), queried inside the node namespace.</summary>
    private Dictionary<string, uint?> AttachedPrograms()
    {
        var pods = Node.Topology.Backends.Prepend(Node.Topology.Client).ToList();
        return NetworkNamespace.Run(Node.NodeNamespace, () => pods.ToDictionary(
            pod => pod.HostInterface,
            pod => Tc.QueryProgramId(pod.HostIfIndex, TcDirection.Ingress, FilterPriority, FilterHandle)));
    }

    private static string Describe(Dictionary<string, uint?> programs) =>
        string.Join(", ", programs.Select(entry => $"{entry.Key}={entry.Value?.ToString() ?? "none"}"));
}
