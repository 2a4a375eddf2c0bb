using ProxyReplacement.ServiceProxy.Parsing;
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
        }));
    }

    [TestCaseSource(nameof(Cases))]
    public void Case(string name)
    {
        var caseDirectory = Path.Combine(TestDataRoot, name);
        var steps = Directory.EnumerateDirectories(caseDirectory, "step*")
            .OrderBy(path => int.Parse(Path.GetFileName(path)["step".Length..]))
            .ToList();
        Assert.That(steps, Is.Not.Empty, $"{name} has no step directories");

        var maps = new NatMapsUnderTest();
        var tracker = new ChangeTracker();
        var syncer = new Syncer(maps.Frontends, maps.Backends);

        foreach (var step in steps)
        {
            var stepName = $"{name}/{Path.GetFileName(step)}";
            if (File.Exists(Path.Combine(step, "RESTART")))
            {
                tracker = new ChangeTracker();
                syncer = new Syncer(maps.Frontends, maps.Backends);
            }

            var manifests = ManifestReader.LoadDirectory(step);
            Assert.That(manifests.Diagnostics, Is.Empty, $"{stepName}: manifest diagnostics");
            tracker.ReplaceAll(manifests.Services, manifests.EndpointSlices);
            var snapshot = tracker.Commit().Snapshot;

            maps.ClearLog();
            var result = syncer.Sync(snapshot);

            Assert.Multiple(() =>
            {
                Assert.That(result.Problems, Is.Empty, $"{stepName}: sync problems");
                Assert.That(maps.Violations, Is.Empty, $"{stepName}: make-before-break violated");
                Assert.That(maps.Dump(), Is.EqualTo(ReadExpected(Path.Combine(step, "expected.txt"))), $"{stepName}: map dump");
                Assert.That(result.Applied.Select(write => write.ToString()), Is.EqualTo(maps.WriteLog),
                    $"{stepName}: the Syncer's report of applied writes differs from what reached the maps");
                var writesFile = Path.Combine(step, "writes.txt");
                if (File.Exists(writesFile))
                    Assert.That(maps.WriteLog, Is.EqualTo(ReadExpected(writesFile)), $"{stepName}: write sequence");
            });
        }
    }

    private static List<string> ReadExpected(string path) =>
        File.ReadAllLines(path)
            .Select(line => line.Trim())
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .ToList();
}
