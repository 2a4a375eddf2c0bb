using System.Globalization;
using System.Reflection;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Support;
using ProxyReplacement.Bench.Workload;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tests.Support;

namespace ProxyReplacement.Bench.Suites;

/// <summary>
/// Memory: the real daemon's RSS once it has programmed N Services from a manifest directory, against the same
/// daemon with one Service in the same run; and the kernel memory (memlock) of the BPF maps, at the default sizes and
/// as the daemon sized them.
/// </summary>
public sealed class MemorySuite : IBenchSuite
{
    private static readonly TimeSpan SyncTimeout = TimeSpan.FromMinutes(5);

    public string Name => "memory";

    public IReadOnlyList<ReportSection> Run(BenchContext context)
    {
        var settings = context.Settings;
        var work = Directory.CreateTempSubdirectory("prt-bench-mem-");
        try
        {
            var rows = new List<ReportRow>();
            var counts = new[] { 1 }.Concat(settings.MemoryServiceCounts).Distinct().ToList();
            var rss = new Dictionary<int, List<double>>();
            var daemonMaps = new Dictionary<int, List<double>>();
            foreach (var services in counts)
            {
                var manifests = Path.Combine(work.FullName, $"manifests-{services}");
                new SyntheticServices(services, settings.EndpointsPerService).WriteManifests(manifests);
                rss[services] = [];
                daemonMaps[services] = [];
            }
            for (var run = 0; run < settings.Runs; run++)
                foreach (var services in counts)
                {
                    context.Cancellation.ThrowIfCancellationRequested();
                    var (rssKib, memlock) = RunDaemon(Path.Combine(work.FullName, $"manifests-{services}"), services, settings.EndpointsPerService, context);
                    rss[services].Add(rssKib / 1024.0);
                    daemonMaps[services].Add(memlock / (1024.0 * 1024.0));
                    context.Progress($"memory: {services} Services, run {run + 1}: RSS {rssKib / 1024.0:F1} MiB, maps {memlock / 1048576.0:F1} MiB");
                }

            var idle = new Measurement("MiB", rss[1]);
            rows.Add(new ReportRow("daemon RSS, 1 Service", idle));
            foreach (var services in counts.Skip(1))
                rows.Add(ReportRow.Versus($"daemon RSS, {services:N0} Services × {settings.EndpointsPerService}", new Measurement("MiB", rss[services]),
                    "1 Service", idle, services switch { 10_000 => "≤ 100 MiB at 10k", 100_000 => "≤ 200 MiB at 100k", _ => null },
                    $"its BPF maps (sized to fit): {new Measurement("MiB", daemonMaps[services]).Format()} memlock"));

            var (total, perMap) = DefaultMapMemory();
            rows.Add(new ReportRow("BPF maps at the default sizes, memlock total", new Measurement("MiB", [total / 1048576.0]),
                Detail: string.Join("; ", perMap.Select(pair => $"{pair.Key} {Size(pair.Value)}"))));
            return [new ReportSection("Memory", Method(settings), rows)];
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private static string Size(long bytes) =>
        bytes >= 1 << 20 ? $"{bytes / 1048576.0:F1} MiB" : $"{bytes / 1024.0:F0} KiB";

    /// <summary>Starts the daemon in a scratch namespace with a private bpffs; returns its RSS (KiB) and map memlock (bytes) after the first full sync.</summary>
    private static (long RssKib, long MapMemlock) RunDaemon(string manifests, int services, int endpointsPerService, BenchContext context)
    {
        using var namespaces = new TestNamespaces();
        var netns = namespaces.Add("mem");
        using var bpffs = BpffsMount.Create();
        var sizes = ProgrammedMaps.SizesFor(services, endpointsPerService);
        string[] arguments =
        [
            "run", "--manifest-dir", manifests, "--bpffs-root", Path.Combine(bpffs.Path, "pr"),
            "--workload-interfaces", "prt-bench-none-*", "--hostname-override", "bench",
            "--healthz-bind-address", "127.0.0.1:10256", "--metrics-bind-address", "127.0.0.1:10249",
            "--frontend-map-size", sizes.Frontends.ToString(CultureInfo.InvariantCulture),
            "--backend-map-size", sizes.Backends.ToString(CultureInfo.InvariantCulture),
        ];
        var synced = $"{services} services";
        // Read once the first sync's burst is given back: the daemon logs the heap reclaim after the sync line, and
        // reading at the sync line raced that collection (up to twice the resident size, depending on who won).
        var syncSeen = false;
        using var daemon = BackgroundProcess.Start("ip", ["netns", "exec", netns, DaemonBinary, .. arguments],
            line =>
            {
                syncSeen |= line.Contains("Synced (", StringComparison.Ordinal) && line.Contains(synced, StringComparison.Ordinal);
                return syncSeen && line.Contains("Heap reclaimed", StringComparison.Ordinal);
            });
        daemon.WaitUntilReady(SyncTimeout, context.Cancellation);
        // `ip netns exec` execs the command: the pid is the daemon's
        var rss = ProcField(daemon.Pid, "VmRSS");
        // the daemon holds some maps through two fds (the object's and a typed map's dup): count each map once
        var memlock = FdInfoMemlock(daemon.Pid).DistinctBy(map => map.Id).Sum(map => map.Memlock);
        return (rss, memlock);
    }

    /// <summary>Loads the core object with the default map sizes in this process and sums the memlock of its map fds.</summary>
    private static (long Total, IReadOnlyList<KeyValuePair<string, long>> PerMap) DefaultMapMemory()
    {
        using var dataplane = CoreDataplane.Load(new DataplaneOptions());
        var names = new Dictionary<uint, string>
        {
            [dataplane.Frontends.Id] = dataplane.Frontends.Name,
            [dataplane.Backends.Id] = dataplane.Backends.Name,
            [dataplane.Affinity.Id] = dataplane.Affinity.Name,
            [dataplane.Conntrack.Id] = dataplane.Conntrack.Name,
            [dataplane.ServiceCidrs.Id] = dataplane.ServiceCidrs.Name,
            [dataplane.SocketReverse.Id] = dataplane.SocketReverse.Name,
        };
        var maps = FdInfoMemlock(Environment.ProcessId).GroupBy(map => map.Id).Select(group => group.First()).ToList();
        var known = maps.Where(map => names.ContainsKey(map.Id)).Select(map => KeyValuePair.Create(names[map.Id], map.Memlock))
            .OrderByDescending(pair => pair.Value).ToList();
        var others = maps.Where(map => !names.ContainsKey(map.Id)).ToList();
        if (others.Count > 0)
            known.Add(KeyValuePair.Create($"{others.Count} others (counters, config, .rodata, ...)", others.Sum(map => map.Memlock)));
        return (maps.Sum(map => map.Memlock), known);
    }

    /// <summary>(map id, memlock bytes) of every BPF map fd the process holds, from /proc/PID/fdinfo.</summary>
    private static IEnumerable<(uint Id, long Memlock)> FdInfoMemlock(int pid)
    {
        foreach (var file in Directory.EnumerateFiles($"/proc/{pid}/fdinfo"))
        {
            string[] lines;
            try
            {
                lines = File.ReadAllLines(file);
            }
            catch (IOException)
            {
                continue; // closed meanwhile
            }
            var id = Field(lines, "map_id:");
            var memlock = Field(lines, "memlock:");
            if (id is not null && memlock is not null)
                yield return ((uint)id.Value, memlock.Value);
        }
    }

    private static long? Field(string[] lines, string name) =>
        lines.Where(line => line.StartsWith(name, StringComparison.Ordinal))
            .Select(line => (long?)long.Parse(line[name.Length..].Trim(), CultureInfo.InvariantCulture)).FirstOrDefault();

    private static long ProcField(int pid, string field)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(line[(field.Length + 1)..].Replace("kB", "", StringComparison.Ordinal).Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>The daemon <c>make build</c> publishes: bin/service-proxy at the repository root.</summary>
    internal static string DaemonBinary
    {
        get
        {
            var root = typeof(MemorySuite).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == "RepositoryRoot").Value!;
            var path = Path.Combine(root, "bin", "service-proxy");
            return File.Exists(path) ? path : throw new FileNotFoundException($"{path} is missing: run `make build` first", path);
        }
    }

    private static string Method(BenchSettings settings) =>
        "The real daemon (`bin/service-proxy run`, the published build) in a scratch network namespace with a private bpffs as " +
        "`--bpffs-root`, reading a manifest directory of N Services × " + settings.EndpointsPerService + " endpoints " +
        "(SyntheticServices, YAML, 1,000 Services per file), with map sizes that fit (`--frontend-map-size`, `--backend-map-size`). " +
        "Once it logs its first sync of all N Services and then the heap reclaim that follows it (`Heap reclaimed`), VmRSS is read from /proc/PID/status and the memlock of every BPF map fd " +
        "it holds from /proc/PID/fdinfo; then it is stopped and its namespace and bpffs removed. Each run starts every size once " +
        "(the 1-Service daemon is the same-run baseline). The last row loads the core object with the default map sizes " +
        "(frontends 65,536, backends 262,144, affinity 65,536, conntrack 262,144, socket LB reverse 65,536) in the harness and sums " +
        "the memlock of its maps (the kernel's own accounting: the LRU maps, conntrack, affinity and socket LB reverse, are " +
        "preallocated in full; the NAT maps are " +
        "BPF_F_NO_PREALLOC, so their figure is the bucket array plus the entries present: empty here, filled in the daemon rows).";
}
