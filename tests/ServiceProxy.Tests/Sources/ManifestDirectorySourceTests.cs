using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sources;
using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.ServiceProxy.Tests.Sources;

public sealed class ManifestDirectorySourceTests
{
    private static readonly ObjectKey Web = new("default", "web");
    private static readonly ObjectKey Db = new("default", "db");

    private string _directory = null!;
    private ProxyMetrics _metrics = null!;
    private ManifestDirectorySource _source = null!;
    private ChangeTracker _tracker = null!;
    private int _changedCalls;
    private DateTime _nextWriteTime;

    [SetUp]
    public void CreateDirectory()
    {
        _directory = Path.Combine(Path.GetTempPath(), "prt-manifests-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_directory);
        _metrics = new ProxyMetrics();
        _source = new ManifestDirectorySource(_directory, NullLogger<ManifestDirectorySource>.Instance, _metrics, nodeName: "node-a");
        _tracker = new ChangeTracker();
        _changedCalls = 0;
        _nextWriteTime = DateTime.UtcNow.AddHours(-1);
    }

    [TearDown]
    public void DeleteDirectory()
    {
        _source.Dispose();
        _metrics.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>
    /// Writes a file and gives it a modification time later than any before: a real edit always moves
    /// it, but two writes within one test can land inside the file system's timestamp granularity.
    /// </summary>
    private void Write(string name, string text)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        _nextWriteTime = _nextWriteTime.AddSeconds(1);
        File.SetLastWriteTimeUtc(path, _nextWriteTime);
    }

    private void Delete(string name) => File.Delete(Path.Combine(_directory, name));

    private bool Reload() => _source.ReloadIfChanged(_tracker, () => _changedCalls++);

    private ServiceSnapshot Commit() => _tracker.Commit().Snapshot;

    private static string ServiceYaml(string name, string clusterIP, int port = 80) => $"""
        apiVersion: v1
        kind: Service
        metadata: {"{"}name: {name}{"}"}
        spec:
          clusterIP: {clusterIP}
          ports: [{"{"}port: {port}, targetPort: 8080{"}"}]

        """;

    private static string SliceYaml(string name, string service, string address) => $"""
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata:
          name: {name}
          labels: {"{"}kubernetes.io/service-name: {service}{"}"}
        addressType: IPv4
        ports: [{"{"}port: 8080{"}"}]
        endpoints:
        - addresses: ["{address}"]

        """;

    private static string Documents(params string[] documents) => string.Join("---\n", documents);

    private static IPAddress ClusterIP(ServiceSnapshot snapshot, ObjectKey service) => snapshot.Services[service].ClusterIPs.Single();

    private void LoadWebAndDb()
    {
        Write("web.yaml", Documents(ServiceYaml("web", "10.96.0.10"), SliceYaml("web-1", "web", "10.244.0.1")));
        Write("db.yaml", ServiceYaml("db", "10.96.0.20", port: 5432));
        Assert.That(Reload(), Is.True);
        Commit();
        _changedCalls = 0;
    }

    [Test]
    public void The_first_load_delivers_every_object_and_marks_the_source_synced()
    {
        Write("web.yaml", Documents(ServiceYaml("web", "10.96.0.10"), SliceYaml("web-1", "web", "10.244.0.1")));
        Write("db.yml", ServiceYaml("db", "10.96.0.20", port: 5432));
        Assert.That(_source.Synced, Is.False);

        var reloaded = Reload();

        var snapshot = Commit();
        Assert.Multiple(() =>
        {
            Assert.That(reloaded, Is.True);
            Assert.That(_changedCalls, Is.EqualTo(1));
            Assert.That(_source.Synced, Is.True);
            Assert.That(snapshot.Services.Keys, Is.EqualTo(new[] { Db, Web }));
            Assert.That(ClusterIP(snapshot, Web), Is.EqualTo(IPAddress.Parse("10.96.0.10")));
            Assert.That(snapshot.SlicesFor(Web).Single().Name, Is.EqualTo("web-1"));
            Assert.That(_metrics.ManifestErrors.Value, Is.Zero);
        });
    }

    [Test]
    public void An_empty_directory_is_a_synced_empty_state()
    {
        Assert.That(Reload(), Is.True);

        Assert.That(_source.Synced, Is.True);
        Assert.That(_changedCalls, Is.Zero, "nothing differs from the empty tracker");
        Assert.That(_tracker.HasPendingChanges, Is.False);
    }

    [Test]
    public void A_reload_with_nothing_changed_does_nothing()
    {
        LoadWebAndDb();

        var reloaded = Reload();

        Assert.That(reloaded, Is.False);
        Assert.That(_changedCalls, Is.Zero);
        Assert.That(_tracker.HasPendingChanges, Is.False);
    }

    [Test]
    public void Rewriting_a_file_with_the_same_contents_rereads_it_without_a_change()
    {
        LoadWebAndDb();

        Write("db.yaml", ServiceYaml("db", "10.96.0.20", port: 5432));

        Assert.That(Reload(), Is.True);
        Assert.That(_changedCalls, Is.Zero);
        Assert.That(_tracker.HasPendingChanges, Is.False);
    }

    [Test]
    public void Files_other_than_yaml_and_json_are_ignored()
    {
        LoadWebAndDb();

        Write("notes.txt", "not a manifest: [");
        Write(".web.yaml.swp", "garbage");

        Assert.That(Reload(), Is.False);
        Assert.That(_changedCalls, Is.Zero);
        Assert.That(_metrics.ManifestErrors.Value, Is.Zero);
    }

    [Test]
    public void Editing_a_file_updates_its_objects()
    {
        LoadWebAndDb();

        Write("web.yaml", Documents(ServiceYaml("web", "10.96.0.11"), SliceYaml("web-1", "web", "10.244.0.2")));

        Assert.That(Reload(), Is.True);
        Assert.That(_changedCalls, Is.EqualTo(1));
        var commit = _tracker.Commit();
        Assert.Multiple(() =>
        {
            Assert.That(commit.ChangedServices, Is.EqualTo(new[] { Web }));
            Assert.That(ClusterIP(commit.Snapshot, Web), Is.EqualTo(IPAddress.Parse("10.96.0.11")));
            Assert.That(commit.Snapshot.SlicesFor(Web).Single().Endpoints.Single().Addresses.Single(),
                Is.EqualTo(IPAddress.Parse("10.244.0.2")));
            Assert.That(commit.Snapshot.Services.ContainsKey(Db), Is.True);
        });
    }

    [Test]
    public void A_reload_parses_only_the_files_whose_size_or_modification_time_moved()
    {
        LoadWebAndDb();
        var web = Path.Combine(_directory, "web.yaml");
        var stamp = File.GetLastWriteTimeUtc(web);
        // Same size, same modification time: to the source it is the file it parsed (as to its fingerprint).
        File.WriteAllText(web, File.ReadAllText(web).Replace("10.96.0.10", "10.96.0.11", StringComparison.Ordinal));
        File.SetLastWriteTimeUtc(web, stamp);

        Write("db.yaml", ServiceYaml("db", "10.96.0.21", port: 5432));

        Assert.That(Reload(), Is.True);
        var snapshot = Commit();
        Assert.Multiple(() =>
        {
            Assert.That(ClusterIP(snapshot, Db), Is.EqualTo(IPAddress.Parse("10.96.0.21")), "the changed file is parsed");
            Assert.That(ClusterIP(snapshot, Web), Is.EqualTo(IPAddress.Parse("10.96.0.10")), "the other one is not parsed again");
        });
    }

    /// <summary>
    /// The oracle of the path that hands only the changed files' objects to the tracker: after every step of random edits
    /// (objects moving between files, duplicates across files, broken syntax, Nodes, files added and removed), the
    /// long-lived source's tracker holds exactly what a fresh source reading the directory once would.
    /// </summary>
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    [TestCase(4)]
    [TestCase(5)]
    [TestCase(6)]
    public void Random_edits_leave_the_same_state_as_a_fresh_read_of_the_directory(int seed)
    {
        var random = new Random(seed);
        string[] files = ["a.yaml", "b.yaml", "c.yaml", "d.yaml"];
        string RandomFile()
        {
            var documents = new List<string>();
            for (var i = random.Next(4); i > 0; i--)
            {
                var name = $"svc-{random.Next(6)}"; // few names: objects move between files and collide
                documents.Add(ServiceYaml(name, $"10.96.0.{random.Next(1, 4)}"));
                if (random.Next(2) == 0)
                    documents.Add(SliceYaml($"{name}-s", name, $"10.244.0.{random.Next(1, 4)}"));
            }
            if (random.Next(10) == 0)
                documents.Add("apiVersion: v1\nkind: Node\nmetadata: {name: node-a}\nstatus: {addresses: [{type: InternalIP, address: 192.168.0." + random.Next(1, 3) + "}]}\n");
            var text = Documents([.. documents]);
            return random.Next(12) == 0 ? text + "---\nkind: [broken\n" : text;
        }
        foreach (var file in files)
            Write(file, RandomFile());
        Reload();
        for (var step = 0; step < 150; step++)
        {
            var file = files[random.Next(files.Length)];
            switch (random.Next(10))
            {
                case 0:
                    Delete(file);
                    break;
                default:
                    Write(file, RandomFile());
                    break;
            }
            if (random.Next(3) == 0)
                Write(files[random.Next(files.Length)], RandomFile()); // two files changed in one reload
            Reload();
            var live = _tracker.Commit().Snapshot;

            // A fresh read, carrying over the last good contents of broken files as the long-lived source does.
            using var metrics = new ProxyMetrics();
            using var fresh = new ManifestDirectorySource(_directory, NullLogger<ManifestDirectorySource>.Instance, metrics, nodeName: "node-a");
            var freshTracker = new ChangeTracker();
            fresh.ReloadIfChanged(freshTracker, () => { });
            var expected = freshTracker.Commit().Snapshot;
            if (Directory.EnumerateFiles(_directory).Any(path => File.ReadAllText(path).Contains("[broken", StringComparison.Ordinal)))
                continue; // a fresh source has no last good contents to keep: only clean directories compare
            Assert.Multiple(() =>
            {
                Assert.That(live.Services, Is.EqualTo(expected.Services), $"step {step}: Services");
                Assert.That(live.SlicesByService.Keys, Is.EqualTo(expected.SlicesByService.Keys), $"step {step}: slices by Service");
                foreach (var (service, slices) in expected.SlicesByService)
                    Assert.That(live.SlicesByService[service], Is.EqualTo(slices), $"step {step}: slices of {service}");
                Assert.That(_source.Nodes, Is.EqualTo(fresh.Nodes), $"step {step}: Nodes");
                Assert.That(_metrics.ManifestObjectsSkipped.Value, Is.EqualTo(metrics.ManifestObjectsSkipped.Value), $"step {step}: objects skipped");
            });
        }
        Assert.That(_source.ChangedFileReloads, Is.GreaterThan(10), "the changed-files path was taken often enough to be tested");
    }

    [Test]
    public void A_new_file_adds_its_objects()
    {
        LoadWebAndDb();

        Write("cache.json", """{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "cache"}, "spec": {"clusterIP": "10.96.0.30", "ports": [{"port": 6379}]}}""");

        Assert.That(Reload(), Is.True);
        Assert.That(_changedCalls, Is.EqualTo(1));
        Assert.That(Commit().Services.Keys, Is.EqualTo(new[] { new ObjectKey("default", "cache"), Db, Web }));
    }

    [Test]
    public void Deleting_a_file_deletes_its_objects()
    {
        LoadWebAndDb();

        Delete("web.yaml");

        Assert.That(Reload(), Is.True);
        Assert.That(_changedCalls, Is.EqualTo(1));
        var snapshot = Commit();
        Assert.That(snapshot.Services.Keys, Is.EqualTo(new[] { Db }));
        Assert.That(snapshot.SlicesByService, Is.Empty);
    }

    [Test]
    public void A_syntax_broken_edit_keeps_the_files_last_good_objects_while_other_files_still_apply()
    {
        LoadWebAndDb();

        // A half-saved edit of web.yaml (an unclosed flow sequence) and a real edit of db.yaml.
        Write("web.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  clusterIP: 10.96.0.99\n  ports: [{port: 80\n");
        Write("db.yaml", ServiceYaml("db", "10.96.0.21", port: 5432));

        Assert.That(Reload(), Is.True);
        var broken = _tracker.Commit();
        Assert.Multiple(() =>
        {
            Assert.That(broken.ChangedServices, Is.EqualTo(new[] { Db }));
            Assert.That(ClusterIP(broken.Snapshot, Web), Is.EqualTo(IPAddress.Parse("10.96.0.10")), "web keeps its last good contents");
            Assert.That(broken.Snapshot.SlicesFor(Web), Has.Length.EqualTo(1));
            Assert.That(ClusterIP(broken.Snapshot, Db), Is.EqualTo(IPAddress.Parse("10.96.0.21")));
            Assert.That(_metrics.ManifestErrors.Value, Is.EqualTo(1), "the syntax error is reported");
            Assert.That(_metrics.ManifestObjectsSkipped.Value, Is.EqualTo(1));
        });

        // Still broken, another file changes: the kept contents stay and the error is not reported again.
        Write("db.yaml", ServiceYaml("db", "10.96.0.22", port: 5432));
        Assert.That(Reload(), Is.True);
        var stillBroken = _tracker.Commit();
        Assert.Multiple(() =>
        {
            Assert.That(ClusterIP(stillBroken.Snapshot, Web), Is.EqualTo(IPAddress.Parse("10.96.0.10")));
            Assert.That(ClusterIP(stillBroken.Snapshot, Db), Is.EqualTo(IPAddress.Parse("10.96.0.22")));
            Assert.That(_metrics.ManifestErrors.Value, Is.EqualTo(1));
        });

        // Fixed: the new contents apply and nothing is skipped any more.
        Write("web.yaml", ServiceYaml("web", "10.96.0.99"));
        Assert.That(Reload(), Is.True);
        var fixedUp = _tracker.Commit();
        Assert.Multiple(() =>
        {
            Assert.That(ClusterIP(fixedUp.Snapshot, Web), Is.EqualTo(IPAddress.Parse("10.96.0.99")));
            Assert.That(fixedUp.Snapshot.SlicesFor(Web), Is.Empty, "the fixed file no longer holds the slice");
            Assert.That(_metrics.ManifestObjectsSkipped.Value, Is.Zero);
            Assert.That(_metrics.ManifestErrors.Value, Is.EqualTo(1));
        });
    }

    [Test]
    public void A_file_that_is_broken_from_the_start_still_loads_its_documents_before_the_break()
    {
        Write("web.yaml", ServiceYaml("web", "10.96.0.10") + "---\nkind: Service\nmetadata: {name: [\n");
        Write("db.yaml", ServiceYaml("db", "10.96.0.20"));

        Assert.That(Reload(), Is.True);

        Assert.That(Commit().Services.Keys, Is.EqualTo(new[] { Db, Web }));
        Assert.That(_metrics.ManifestErrors.Value, Is.EqualTo(1));
    }

    [Test]
    public void A_malformed_object_is_skipped_and_reported_once_while_the_others_load()
    {
        Write("services.yaml", Documents(ServiceYaml("web", "10.96.0.10"), ServiceYaml("bad", "10.96.0.11", port: 70000)));
        Write("db.yaml", ServiceYaml("db", "10.96.0.20"));

        Assert.That(Reload(), Is.True);
        Assert.Multiple(() =>
        {
            Assert.That(Commit().Services.Keys, Is.EqualTo(new[] { Db, Web }));
            Assert.That(_metrics.ManifestErrors.Value, Is.EqualTo(1));
            Assert.That(_metrics.ManifestObjectsSkipped.Value, Is.EqualTo(1));
        });

        // Another file changes and services.yaml is rewritten unchanged: the same diagnostic is not counted again.
        Write("db.yaml", ServiceYaml("db", "10.96.0.21"));
        Write("services.yaml", Documents(ServiceYaml("web", "10.96.0.10"), ServiceYaml("bad", "10.96.0.11", port: 70000)));
        Assert.That(Reload(), Is.True);
        Assert.That(_metrics.ManifestErrors.Value, Is.EqualTo(1));

        // A second, different problem is counted; the gauge follows what is skipped now.
        Write("db.yaml", ServiceYaml("db", "10.96.0.300"));
        Assert.That(Reload(), Is.True);
        Assert.Multiple(() =>
        {
            Assert.That(_metrics.ManifestErrors.Value, Is.EqualTo(2));
            Assert.That(_metrics.ManifestObjectsSkipped.Value, Is.EqualTo(2));
            Assert.That(Commit().Services.Keys, Is.EqualTo(new[] { Web }), "a Service whose only definition is malformed is gone");
        });

        // Fixed, then broken again the same way: a problem that went away and came back is reported again.
        Write("db.yaml", ServiceYaml("db", "10.96.0.21"));
        Assert.That(Reload(), Is.True);
        Assert.That(_metrics.ManifestObjectsSkipped.Value, Is.EqualTo(1));
        Write("db.yaml", ServiceYaml("db", "10.96.0.300"));
        Assert.That(Reload(), Is.True);
        Assert.That(_metrics.ManifestErrors.Value, Is.EqualTo(3));
    }

    [Test]
    public void An_object_defined_in_two_files_keeps_the_first_and_reports_the_duplicate()
    {
        Write("a.yaml", ServiceYaml("web", "10.96.0.10"));
        Write("b.yaml", Documents(ServiceYaml("web", "10.96.0.99"), ServiceYaml("db", "10.96.0.20")));

        Assert.That(Reload(), Is.True);

        var snapshot = Commit();
        Assert.Multiple(() =>
        {
            Assert.That(snapshot.Services.Keys, Is.EqualTo(new[] { Db, Web }));
            Assert.That(ClusterIP(snapshot, Web), Is.EqualTo(IPAddress.Parse("10.96.0.10")), "files are read in name order");
            Assert.That(_metrics.ManifestErrors.Value, Is.EqualTo(1));
            Assert.That(_metrics.ManifestObjectsSkipped.Value, Is.EqualTo(1));
        });

        // The first definition goes away: the other one takes over and nothing is skipped.
        Delete("a.yaml");
        Assert.That(Reload(), Is.True);
        Assert.That(ClusterIP(Commit(), Web), Is.EqualTo(IPAddress.Parse("10.96.0.99")));
        Assert.That(_metrics.ManifestObjectsSkipped.Value, Is.Zero);
    }

    [Test]
    public void A_duplicate_endpoint_slice_across_files_is_reported()
    {
        Write("a.yaml", Documents(ServiceYaml("web", "10.96.0.10"), SliceYaml("web-1", "web", "10.244.0.1")));
        Write("b.yaml", SliceYaml("web-1", "web", "10.244.0.9"));

        Assert.That(Reload(), Is.True);

        var address = Commit().SlicesFor(Web).Single().Endpoints.Single().Addresses.Single();
        Assert.That(address, Is.EqualTo(IPAddress.Parse("10.244.0.1")));
        Assert.That(_metrics.ManifestErrors.Value, Is.EqualTo(1));
    }

    [Test]
    public void Describes_itself_by_its_directory()
    {
        Assert.That(_source.Description, Is.EqualTo($"manifest directory {_directory}"));
    }

    private static string NodeYaml(string name, string zone, string ip, string extra = "") => $"""
        apiVersion: v1
        kind: Node
        metadata: {"{"}name: {name}, labels: {"{"}topology.kubernetes.io/zone: {zone}{"}"}{"}"}
        spec: {"{"}podCIDRs: [10.244.0.0/24]{extra}{"}"}
        status: {"{"}addresses: [{"{"}type: InternalIP, address: {ip}{"}"}]{"}"}

        """;

    [Test]
    public void Nodes_are_read_and_this_node_is_the_one_named_by_hostname_override()
    {
        var raised = 0;
        _source.NodesChanged += () => raised++;
        Write("nodes.yaml", NodeYaml("node-a", "zone-a", "192.168.1.10") + "---\n" + NodeYaml("node-b", "zone-b", "192.168.1.11"));
        Write("web.yaml", ServiceYaml("web", "10.96.0.10"));

        Reload();

        INodeSource nodes = _source;
        Assert.Multiple(() =>
        {
            Assert.That(nodes.NodeName, Is.EqualTo("node-a"));
            Assert.That(nodes.Nodes.Keys, Is.EqualTo(new[] { "node-a", "node-b" }));
            Assert.That(nodes.ThisNode?.Zone, Is.EqualTo("zone-a"));
            Assert.That(nodes.ThisNode?.IPs(NodeAddressType.InternalIP), Is.EqualTo(new[] { IPAddress.Parse("192.168.1.10") }));
            Assert.That(raised, Is.EqualTo(1));
            Assert.That(Commit().Services.Keys, Is.EqualTo(new[] { Web }), "Nodes are not Services");
        });
    }

    [Test]
    public void A_node_change_is_raised_once_and_an_unrelated_edit_raises_nothing()
    {
        var raised = 0;
        _source.NodesChanged += () => raised++;
        Write("nodes.yaml", NodeYaml("node-a", "zone-a", "192.168.1.10"));
        Reload();

        Write("web.yaml", ServiceYaml("web", "10.96.0.10"));
        Reload();
        Assert.That(raised, Is.EqualTo(1), "a Service edit leaves the Nodes as they were");

        Write("nodes.yaml", NodeYaml("node-a", "zone-b", "192.168.1.10"));
        Reload();
        Assert.That(raised, Is.EqualTo(2));
        Assert.That(_source.ThisNode?.Zone, Is.EqualTo("zone-b"), "the zone label changed");

        Write("nodes.yaml", NodeYaml("node-a", "zone-b", "192.168.1.10", ", taints: [{key: ToBeDeletedByClusterAutoscaler, effect: NoSchedule}]"));
        Reload();
        Assert.That(_source.ThisNode?.Draining, Is.True);

        Delete("nodes.yaml");
        Reload();
        Assert.That(raised, Is.EqualTo(4));
        Assert.That(_source.ThisNode, Is.Null);
        Assert.That(_source.Nodes, Is.Empty);
    }

    [Test]
    public void Without_a_node_of_its_name_this_node_is_unknown_and_a_duplicate_node_is_skipped()
    {
        Write("a.yaml", NodeYaml("node-b", "zone-b", "192.168.1.11"));
        Write("b.yaml", NodeYaml("node-b", "zone-c", "192.168.1.12"));

        Reload();

        Assert.That(_source.ThisNode, Is.Null);
        Assert.That(_source.Nodes["node-b"].Zone, Is.EqualTo("zone-b"), "the first file wins");
        Assert.That(_metrics.ManifestObjectsSkipped.Value, Is.EqualTo(1));
    }
}
