namespace ProxyReplacement.Dataplane.Tests.Netns;

/// <summary>
/// A cgroup v2 directory of one test, <c>&lt;cgroup2 mount&gt;/prt-xxxx-role</c> (never the root cgroup),
/// removed on Dispose (its processes must have exited by then; the test's client processes have).
/// The mount is the first cgroup2 mount in /proc/self/mounts (here the unified mount of a hybrid
/// layout; /sys/fs/cgroup on a pure v2 machine), or PR_CGROUP2_ROOT when set, or the root given to Create.
/// </summary>
public sealed class TestCgroup : IDisposable
{
    private TestCgroup(string path) => Path = path;

    public string Path { get; }

    /// <param name="root">The cgroup v2 directory to create it in; null: <see cref="Cgroup2Root"/>.</param>
    public static TestCgroup Create(string name, string? root = null)
    {
        if (!name.StartsWith("prt-", StringComparison.Ordinal))
            throw new ArgumentException("test cgroups are named prt-*", nameof(name));
        var path = System.IO.Path.Combine(root ?? Cgroup2Root(), name);
        Directory.CreateDirectory(path);
        return new TestCgroup(path);
    }

    /// <summary>Where cgroup v2 is mounted on this machine.</summary>
    public static string Cgroup2Root()
    {
        if (Environment.GetEnvironmentVariable("PR_CGROUP2_ROOT") is { Length: > 0 } configured)
            return configured;
        foreach (var line in File.ReadLines("/proc/self/mounts"))
        {
            var fields = line.Split(' ');
            if (fields.Length > 2 && fields[2] == "cgroup2")
                return fields[1];
        }
        throw new InvalidOperationException("no cgroup2 mount in /proc/self/mounts (set PR_CGROUP2_ROOT)");
    }

    /// <summary>The pids currently in the cgroup.</summary>
    public IReadOnlyList<int> Processes() =>
        File.ReadAllLines(System.IO.Path.Combine(Path, "cgroup.procs")).Where(l => l.Length > 0).Select(int.Parse).ToList();

    public void Dispose()
    {
        if (!Directory.Exists(Path))
            return;
        // rmdir of a cgroup fails while processes remain; clients are short-lived, give stragglers a moment.
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                Directory.Delete(Path);
                return;
            }
            catch (IOException) when (attempt < 50)
            {
                Thread.Sleep(100);
            }
        }
    }
}
