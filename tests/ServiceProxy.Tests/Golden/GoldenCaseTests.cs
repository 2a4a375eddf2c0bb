using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Parsing;
using ProxyReplacement.ServiceProxy.Routing;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Tests.Support;
using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.ServiceProxy.Tests.Golden;

/// <summary>
/// Golden control-plane cases in <c>tests/ServiceProxy.Tests/testdata/&lt;case&gt;/stepN/</c>.
/// Each step directory is the complete manifest set at that point (<c>*.yaml</c>, <c>*.json</c>),
/// loaded, tracked and synced into in-memory NAT maps; then the maps' canonical dump must equal
/// <c>expected.txt</c>, and when <c>writes.txt</c> exists the ordered writes must equal it.
/// A <c>RESTART</c> file makes the step start from a fresh tracker, allocator and Syncer on the
/// existing maps. Every write of every step is checked for make-before-break.
/// A <c>node.txt</c> sets the frontend context from that step on (<c>addresses: IP, IP</c>: the NodePort
/// addresses; <c>range: FIRST-LAST</c>: the NodePort range; <c>name</c>, <c>zone</c>: this node, for local endpoints and hints). A <c>problems.txt</c> lists the problems the step
/// must report (without it, none). Source ranges appear in the dump as <c>src id N CIDR</c> lines.
/// Every case also runs with each step after the first synced from the tracker's commit as the daemon's triggered syncs
/// are (incrementally where the Syncer can, <see cref="ServiceChangeBuilder"/>), against the same files; a <c>path.txt</c>
/// says which path that run's step must take (<c>incremental</c>, or <c>rebuild (reason)</c>, <see cref="SyncPath"/>).
/// Node objects in a step feed the routing module as the daemon does (its routes first, then the Services; this node is
/// node.txt's <c>name</c>): the routes appear in the dump as <c>rt</c> lines (<see cref="RouteDump"/>), their writes in the
/// write log as <c>+rt</c>/<c>-rt</c>, their problems in problems.txt before the Syncer's.
/// Lines starting with '#' and blank lines in the expected files are comments.
/// </summary>
public sealed class GoldenCaseTests
{
    private static readonly string TestDataRoot = Path.Combine(AppContext.BaseDirectory, "testdata");

    public static IEnumerable<string> Cases() =>
        Directory.EnumerateDirectories(TestDataRoot)
            .Select(Path.GetFileName)
            .Order(StringComparer.Ordinal)!;

    [Test]
    public void Every_expected_case_is_present()
    {
        Assert.That(Cases(), Is.SupersetOf(new[]
        {
            "basic-clusterip", "scale-up", "scale-down", "endpoint-not-ready", "targetport-change",
            "service-deleted", "shared-backends", "multi-port-named", "session-affinity", "zero-endpoints", "restart",
            "nodeport", "loadbalancer", "type-changes", "external-ips", "entry-point-conflicts",
            "rolling-update", "etp-local", "itp-local", "topology-hints", "routes", "external-service-mode",
        }));
    }

    [TestCaseSource(nameof(Cases))]
    public void Case(string name) => Run(name, incremental: false);

    /// <summary>
    /// The same case with every step after the first synced as the daemon's triggered syncs are: the tracker's commit,
    /// incrementally where it can be (<see cref="ServiceChangeBuilder"/>); the dumps, problems and writes must be the same.
    /// </summary>
    [TestCaseSource(nameof(Cases))]
    public void Case_synced_incrementally(string name) => Run(name, incremental: true);

    /// <summary>The incremental run must take the incremental path for steps that change Services, or it proves little.</summary>
    [Test]
    public void Golden_steps_that_change_Services_take_the_incremental_path()
    {
        var (incremental, changing) = (0, 0);
        foreach (var name in Cases())
        {
            var paths = Run(name, incremental: true);
            incremental += paths.Count(path => path is { Incremental: true, ChangedServices: > 0 });
            changing += paths.Count(path => path.ChangedServices > 0);
            TestContext.Out.WriteLine($"{name}: {string.Join(", ", paths)}");
        }
        TestContext.Out.WriteLine($"{incremental} of {changing} steps with changes took the incremental path");
        Assert.That(incremental, Is.GreaterThan(changing / 2));
    }

    /// <returns>The path each step's sync took.</returns>
    private static List<SyncPath> Run(string name, bool incremental)
    {
        var paths = new List<SyncPath>();
        var caseDirectory = Path.Combine(TestDataRoot, name);
        var steps = Directory.EnumerateDirectories(caseDirectory, "step*")
            .OrderBy(path => int.Parse(Path.GetFileName(path)["step".Length..]))
            .ToList();
        Assert.That(steps, Is.Not.Empty, $"{name} has no step directories");

        var maps = new NatMapsUnderTest();
        var tracker = new ChangeTracker();
        var syncer = maps.NewSyncer();
        var routes = new RouteWriter(maps.Routes);
        var context = FrontendContext.None;
        var first = true;

        foreach (var step in steps)
        {
            var stepName = $"{name}/{Path.GetFileName(step)}";
            if (File.Exists(Path.Combine(step, "RESTART")))
            {
                first = true;
                tracker = new ChangeTracker();
                syncer = maps.NewSyncer();
                routes = new RouteWriter(maps.Routes);
            }
            if (File.Exists(Path.Combine(step, "node.txt")))
                context = ReadContext(Path.Combine(step, "node.txt"));
            syncer.Context = context;

            var manifests = ManifestReader.LoadDirectory(step);
            Assert.That(manifests.Diagnostics, Is.Empty, $"{stepName}: manifest diagnostics");
            tracker.ReplaceAll(manifests.Services, manifests.EndpointSlices);
            var commit = tracker.Commit();

            maps.ClearLog();
            var desiredRoutes = RouteBuilder.Build(manifests.Nodes, context.Node.Name);
            var routeResult = routes.Apply(desiredRoutes.Entries, reread: true);
            var result = incremental ? syncer.Sync(commit, fullResync: first) : syncer.Sync(commit.Snapshot);
            paths.Add(syncer.LastPath);
            first = false;
            stepName += incremental ? $" ({syncer.LastPath})" : "";

            Assert.Multiple(() =>
            {
                var problemsFile = Path.Combine(step, "problems.txt");
                Assert.That(desiredRoutes.Problems.Concat(routeResult.Problems).Concat(result.Problems).Select(problem => problem.ToString()),
                    Is.EqualTo(File.Exists(problemsFile) ? ReadExpected(problemsFile) : []), $"{stepName}: sync problems");
                Assert.That(maps.Violations, Is.Empty, $"{stepName}: make-before-break violated");
                Assert.That(maps.Dump(), Is.EqualTo(ReadExpected(Path.Combine(step, "expected.txt"))), $"{stepName}: map dump");
                // Applied reports the NAT writes; the side maps' (source ranges) and the routes are in the log alone.
                Assert.That(result.Applied.Select(write => write.ToString()),
                    Is.EqualTo(maps.WriteLog.Where(write => !write.StartsWith("+src") && !write.StartsWith("-src") && !write.StartsWith("+rt") && !write.StartsWith("-rt"))),
                    $"{stepName}: the Syncer's report of applied writes differs from what reached the maps");
                Assert.That(routeResult.Writes, Is.EqualTo(maps.WriteLog.Count(write => write.StartsWith("+rt") || write.StartsWith("-rt"))),
                    $"{stepName}: the route writer's count of writes differs from what reached the map");
                var writesFile = Path.Combine(step, "writes.txt");
                if (File.Exists(writesFile))
                    Assert.That(maps.WriteLog, Is.EqualTo(ReadExpected(writesFile)), $"{stepName}: write sequence");
                var pathFile = Path.Combine(step, "path.txt");
                if (incremental && File.Exists(pathFile))
                    Assert.That(syncer.LastPath.Incremental ? "incremental" : $"rebuild ({syncer.LastPath.ReasonLabel})",
                        Is.EqualTo(ReadExpected(pathFile).Single()), $"{stepName}: the path of the incremental run");
            });
        }
        return paths;
    }

    private static FrontendContext ReadContext(string path)
    {
        var context = FrontendContext.None;
        foreach (var line in ReadExpected(path))
        {
            var (key, value) = (line[..line.IndexOf(':')].Trim(), line[(line.IndexOf(':') + 1)..].Trim());
            context = key switch
            {
                "addresses" => context with
                {
                    NodePortAddresses = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                        .Select(System.Net.IPAddress.Parse).ToEquatableList(),
                },
                "range" => context with { NodePortRange = ServiceProxy.Options.PortRange.Parse(value) },
                "name" => context with { Node = context.Node with { Name = value } },
                "zone" => context with { Node = context.Node with { Zone = value } },
                _ => throw new InvalidDataException($"{path}: unknown key '{key}'"),
            };
        }
        return context;
    }

    private static List<string> ReadExpected(string path) =>
        File.ReadAllLines(path)
            .Select(line => line.Trim())
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .ToList();
}
