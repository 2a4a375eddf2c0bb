using ProxyReplacement.Bench.Workload;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.Tc;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.ServiceProxy.Daemon;

namespace ProxyReplacement.Bench.Suites.EndToEnd;

/// <summary>
/// A node's dataplane wired as the daemon wires it: the core object loaded sized for the cluster, the cluster
/// programmed through the tracker and the Syncer, and <c>pr_tc_from_wl</c> attached at TC ingress of the node side
/// of every pod veth (the daemon's priority and handle). The TC and the socket paths both start from this.
/// Dispose detaches the programs and closes the maps.
/// </summary>
public sealed class WiredDataplane : IDisposable
{
    private readonly List<TcAttachment> _attachments;

    private WiredDataplane(CoreDataplane core, List<TcAttachment> attachments)
    {
        Core = core;
        _attachments = attachments;
    }

    public CoreDataplane Core { get; }

    public static WiredDataplane Create(EndToEndNode node, SyntheticServices cluster)
    {
        var core = ProgrammedMaps.Load(cluster.Count, cluster.EndpointsPerService);
        var attachments = new List<TcAttachment>();
        try
        {
            ProgrammedMaps.Program(core, cluster);
            PodInterface[] interfaces = [node.Topology.Client, .. node.Topology.Backends];
            NetworkNamespace.Run(node.NodeNamespace, () =>
            {
                foreach (var pod in interfaces)
                    attachments.Add(Tc.Attach(pod.HostIfIndex, TcDirection.Ingress, core.FromWorkload, AttachPoint.Priority, AttachPoint.Handle));
            });
            return new WiredDataplane(core, attachments);
        }
        catch
        {
            Release(core, attachments);
            throw;
        }
    }

    /// <summary>
    /// Takes <c>pr_counters</c> now, for a run's self-check: after the run, <paramref name="problem"/> gets how far each
    /// counter moved and the run's connections, and returns what shows the traffic did not take <paramref name="path"/>
    /// (null: nothing).
    /// </summary>
    public IRunCheck CheckRun(string path, Func<Func<CounterReason, ulong>, long, string?> problem) => new CounterCheck(this, path, problem);

    private sealed class CounterCheck(WiredDataplane dataplane, string path, Func<Func<CounterReason, ulong>, long, string?> problem) : IRunCheck
    {
        private readonly IReadOnlyDictionary<CounterReason, ulong> _start = dataplane.Core.ReadCounters();

        public void Verify(long connections, string run)
        {
            var now = dataplane.Core.ReadCounters();
            ulong Moved(CounterReason reason) => now.GetValueOrDefault(reason) - _start.GetValueOrDefault(reason);
            if (problem(Moved, connections) is { } wrong)
                throw new InvalidOperationException($"{run} did not take the {path}: {wrong}; counters now: " +
                    string.Join(", ", now.Where(c => c.Value > 0).Select(c => $"{c.Key}={c.Value}")));
        }
    }

    public void Dispose() => Release(Core, _attachments);

    private static void Release(CoreDataplane core, List<TcAttachment> attachments)
    {
        foreach (var attachment in attachments)
            attachment.Dispose();
        attachments.Clear();
        core.Dispose();
    }
}
