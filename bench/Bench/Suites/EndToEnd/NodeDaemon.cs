using System.Globalization;
using System.Net;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Support;
using ProxyReplacement.Bench.Workload;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tests.Support;

namespace ProxyReplacement.Bench.Suites.EndToEnd;

/// <summary>
/// The real daemon (<c>bin/service-proxy run</c>) serving one end-to-end node: started in the node namespace with a
/// manifest directory of the cluster, a private bpffs as its <c>--bpffs-root</c>, the node's pod veths as workload
/// interfaces and the external client's link (<c>{prefix}up0</c>) as its host interface; no cgroup (no socket hooks).
/// Ready once the NodePort frontend of the measured Service is pinned with all its backends. Its pinned counters back
/// the runs' self-checks. Dispose stops it with SIGTERM (SIGKILL after 15 s) and removes its bpffs and manifests.
/// <see cref="Launch"/> starts one with any arguments (the multinode-e2e suite's daemon per node of a cluster).
/// </summary>
public sealed class NodeDaemon : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(5);

    private readonly BpffsMount _bpffs;
    private DirectoryInfo? _work;
    private BackgroundProcess? _process;
    private PinnedCoreMaps? _maps;

    private NodeDaemon(DirectoryInfo? work, BpffsMount bpffs)
    {
        _work = work;
        _bpffs = bpffs;
    }

    public string PinRoot => Path.Combine(_bpffs.Path, "pr");

    public static NodeDaemon Start(EndToEndNode node, ExternalClient external, SyntheticServices cluster, int measuredService, BenchContext context)
    {
        var work = Directory.CreateTempSubdirectory("prt-bench-np-");
        try
        {
            var manifests = Path.Combine(work.FullName, "manifests");
            cluster.WriteManifests(manifests);
            // NodePort frontends on each node address (the up0 address and the pod gateways: every address but loopback)
            var sizes = ProgrammedMaps.SizesFor(cluster.Count, cluster.EndpointsPerService, extraFrontends: cluster.NodePorts * 4);
            string[] arguments =
            [
                "run", "--manifest-dir", manifests,
                "--workload-interfaces", $"{node.Topology.Prefix}-*", "--host-interfaces", external.NodeInterface,
                "--hostname-override", "bench",
                "--healthz-bind-address", "127.0.0.1:10256", "--metrics-bind-address", "127.0.0.1:10249",
                "--frontend-map-size", sizes.Frontends.ToString(CultureInfo.InvariantCulture),
                "--backend-map-size", sizes.Backends.ToString(CultureInfo.InvariantCulture),
            ];
            var key = new NatFrontendKey4(external.NodeAddress, (ushort)SyntheticServices.NodePortOf(measuredService), L4Protocol.Tcp);
            var backends = (uint)cluster.EndpointsPerService;
            var daemon = Launch(node.NodeNamespace, arguments, work, context);
            try
            {
                daemon.WaitUntilProgrammed(maps =>
                    maps.Frontends.TryLookup(key, out var value) && value.BackendCount == backends && value.Kind == FrontendKind.NodePort
                        ? null
                        : $"the NodePort frontend {key} with {backends} backends", context.Cancellation);
                return daemon;
            }
            catch
            {
                daemon.Dispose();
                throw;
            }
        }
        catch
        {
            work.Refresh();
            if (work.Exists)
                work.Delete(recursive: true);
            throw;
        }
    }

    /// <summary>
    /// Starts <c>bin/service-proxy</c> with <paramref name="arguments"/> (from <c>run</c> on, without <c>--bpffs-root</c>:
    /// a private bpffs is mounted and given) in <paramref name="netns"/>, and waits for its first sync. The result owns
    /// <paramref name="work"/> (deleted on Dispose; null: nothing to delete). On failure nothing stays behind but
    /// <paramref name="work"/>, which the caller still owns then.
    /// </summary>
    public static NodeDaemon Launch(string netns, IReadOnlyList<string> arguments, DirectoryInfo? work, BenchContext context)
    {
        var bpffs = BpffsMount.Create();
        var daemon = new NodeDaemon(work, bpffs);
        try
        {
            daemon._process = BackgroundProcess.Start("ip", ["netns", "exec", netns, MemorySuite.DaemonBinary, .. arguments, "--bpffs-root", daemon.PinRoot],
                line => line.Contains("Synced (", StringComparison.Ordinal));
            daemon._process.WaitUntilReady(StartTimeout, context.Cancellation);
            return daemon;
        }
        catch
        {
            daemon._work = null; // the caller's again
            daemon.Dispose();
            throw;
        }
    }

    /// <summary>The daemon's output so far (its log).</summary>
    public string Output => _process?.Output ?? "";

    /// <summary>
    /// Polls the daemon's pinned maps until <paramref name="missing"/> returns null (it returns what is still missing),
    /// for at most <paramref name="timeout"/> (a minute by default); fails early when the daemon exits.
    /// </summary>
    public void WaitUntilProgrammed(Func<PinnedCoreMaps, string?> missing, CancellationToken cancellation, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        string? lacking = "its pins";
        while (true)
        {
            cancellation.ThrowIfCancellationRequested();
            if (_process!.HasExited)
                throw new InvalidOperationException($"the daemon exited: {_process.Output}");
            try
            {
                _maps ??= PinnedCoreMaps.Open(PinRoot);
                lacking = missing(_maps);
                if (lacking is null)
                    return;
            }
            catch (BpfException)
            {
                // not pinned yet
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"the daemon never programmed {lacking}: {_process.Output}");
            Thread.Sleep(100);
        }
    }

    /// <summary>The dataplane's verdict counters (summed over CPUs), read from the daemon's pins.</summary>
    public IReadOnlyDictionary<CounterReason, ulong> ReadCounters() => (_maps ??= PinnedCoreMaps.Open(PinRoot)).ReadCounters();

    /// <summary>Takes the counters now; after the run, <paramref name="problem"/> gets how far each moved (null: the run took the path).</summary>
    public IRunCheck CheckRun(string path, Func<Func<CounterReason, ulong>, long, string?> problem) => new CounterCheck(this, path, problem);

    private sealed class CounterCheck(NodeDaemon daemon, string path, Func<Func<CounterReason, ulong>, long, string?> problem) : IRunCheck
    {
        private readonly IReadOnlyDictionary<CounterReason, ulong> _start = daemon.ReadCounters();

        public void Verify(long connections, string run)
        {
            var now = daemon.ReadCounters();
            ulong Moved(CounterReason reason) => now.GetValueOrDefault(reason) - _start.GetValueOrDefault(reason);
            if (daemon._process is { HasExited: true })
                throw new InvalidOperationException($"{run}: the daemon exited: {daemon._process.Output}");
            if (problem(Moved, connections) is { } wrong)
                throw new InvalidOperationException($"{run} did not take the {path}: {wrong}; counters now: " +
                    string.Join(", ", now.Where(c => c.Value > 0).Select(c => $"{c.Key}={c.Value}")));
        }
    }

    private const int SigTerm = 15;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    public void Dispose()
    {
        try
        {
            _maps?.Dispose();
            if (_process is { HasExited: false })
            {
                _ = Kill(_process.Pid, SigTerm); // `ip netns exec` execs the daemon: the pid is the daemon's
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
                while (!_process.HasExited && DateTime.UtcNow < deadline)
                    Thread.Sleep(100);
            }
            _process?.Dispose(); // SIGKILL if SIGTERM did not end it
        }
        finally
        {
            try
            {
                _bpffs.Dispose();
            }
            finally
            {
                if (_work is { Exists: true })
                    _work.Delete(recursive: true);
            }
        }
    }
}
