using System.Diagnostics;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Workload;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.Bench.Suites;

/// <summary>
/// What the sync runner's minimum interval buys, to choose its default: the real <see cref="BoundedFrequencyRunner"/> driving
/// the real tracker and Syncer on BPF maps holding N Services × 4, hit by a storm of EndpointSlice changes (a relist, a node
/// going away: many slices at once). Per interval: how many syncs the storm took, the syncs' total time (the CPU the loop
/// spent) and each change's latency from its upsert into the tracker to the end of the sync that wrote it.
/// </summary>
public static class RunnerStorm
{
    public sealed record Outcome(double Syncs, double SyncMs, double P50Ms, double P99Ms);

    public static Outcome Run(SyntheticServices cluster, TimeSpan minInterval, int changes, TimeSpan spacing, Random random, CancellationToken cancellation)
    {
        using var dataplane = ProgrammedMaps.Load(cluster.Count, cluster.EndpointsPerService);
        var (tracker, syncer) = ProgrammedMaps.Program(dataplane, cluster);
        var upserted = new long[changes];
        var written = new long[changes];
        var injected = 0; // changes upserted so far (each counted after its upsert)
        var syncs = 0;
        long syncTicks = 0;
        var storm = false;
        var runner = new BoundedFrequencyRunner((kind, _) =>
        {
            var included = Volatile.Read(ref injected);
            var started = Stopwatch.GetTimestamp();
            var commit = tracker.Commit();
            var result = syncer.Sync(commit, fullResync: kind == RunKind.Full);
            var ended = Stopwatch.GetTimestamp();
            if (result.Problems.Count > 0)
                throw new InvalidOperationException($"the storm's sync had {result.Problems.Count} problems: {result.Problems[0].Reason}");
            if (Volatile.Read(ref storm))
            {
                syncs++;
                syncTicks += ended - started;
                for (var i = 0; i < included; i++)
                    if (written[i] == 0)
                        written[i] = ended;
            }
            return Task.CompletedTask;
        }, minInterval, TimeSpan.FromMinutes(10));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var loop = Task.Run(() => runner.RunAsync(stop.Token));
        try
        {
            Thread.Sleep(200); // the runner's first (full) run is over
            Volatile.Write(ref storm, true);
            var generation = new int[cluster.Count];
            for (var i = 0; i < changes; i++)
            {
                var index = random.Next(cluster.Count);
                var next = Stopwatch.GetTimestamp() + (long)(spacing.TotalSeconds * Stopwatch.Frequency);
                upserted[i] = Stopwatch.GetTimestamp();
                tracker.UpsertEndpointSlice(cluster.Slice(index, ++generation[index]));
                Interlocked.Increment(ref injected);
                runner.Trigger();
                while (Stopwatch.GetTimestamp() < next)
                    Thread.SpinWait(20);
            }
            var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 30;
            while (Volatile.Read(ref written[changes - 1]) == 0 && Stopwatch.GetTimestamp() < deadline)
                Thread.Sleep(1);
            if (written[changes - 1] == 0)
                throw new TimeoutException("the storm's last change was never written");
        }
        finally
        {
            stop.Cancel();
            loop.GetAwaiter().GetResult();
        }
        var latencies = new Measurement("ms", Enumerable.Range(0, changes).Select(i => Stopwatch.GetElapsedTime(upserted[i], written[i]).TotalMilliseconds).ToList());
        return new Outcome(syncs, Stopwatch.GetElapsedTime(0, syncTicks).TotalMilliseconds, latencies.Percentile(0.5), latencies.Percentile(0.99));
    }
}
