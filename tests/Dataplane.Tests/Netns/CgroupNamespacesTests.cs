using ProxyReplacement.Dataplane.Netns;

namespace ProxyReplacement.Dataplane.Tests.Netns;

/// <summary>
/// The cgroup scan on a directory tree shaped like a cgroup (plain files: no privileges needed): every cgroup.procs of
/// the tree, pids deduplicated, pid 0 (a process outside the reader's pid namespace) counted as invisible, a pid that
/// has exited skipped, and the namespaces deduplicated by identity.
/// </summary>
public sealed class CgroupNamespacesTests
{
    [Test]
    public void The_scan_walks_the_tree_and_dedupes_namespaces_by_identity()
    {
        var root = Directory.CreateTempSubdirectory("prt-cgscan-").FullName;
        try
        {
            var self = Environment.ProcessId;
            var child = Directory.CreateDirectory(Path.Combine(root, "pod-a", "container")).FullName;
            File.WriteAllText(Path.Combine(root, "cgroup.procs"), $"{self}\n0\n");
            File.WriteAllText(Path.Combine(root, "pod-a", "cgroup.procs"), "");
            File.WriteAllText(Path.Combine(child, "cgroup.procs"), $"{self}\n0\n2147483646\n");

            var scan = CgroupNamespaces.Find(root);

            Assert.Multiple(() =>
            {
                Assert.That(scan.Namespaces.Select(n => n.Identity), Is.EqualTo(new[] { NetworkNamespace.IdentityOf("/proc/self/ns/net") }));
                Assert.That(scan.Namespaces[0].Pids, Is.EqualTo(new[] { self }), "listed twice, once here");
                Assert.That(scan.Invisible, Is.EqualTo(2), "pid 0: outside this pid namespace");
                Assert.That(scan.Processes, Is.EqualTo(4), "self, the exited pid and two invisible ones");
                Assert.That(scan.Denied, Is.Empty);
                Assert.That(scan.Unreachable, Is.EqualTo(2));
            });
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Test]
    public void An_unreadable_cgroup_is_an_error_naming_it()
    {
        var error = Assert.Throws<IOException>(() => CgroupNamespaces.Find("/nonexistent/prt-cgroup"));
        Assert.That(error!.Message, Does.Contain("/nonexistent/prt-cgroup"));
    }
}
