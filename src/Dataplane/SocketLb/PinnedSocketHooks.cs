namespace ProxyReplacement.Dataplane.SocketLb;

/// <summary>What <see cref="PinnedSocketHooks.Ensure"/> did for one hook.</summary>
public enum PinnedHookChange
{
    /// <summary>No link was pinned: a new one was created and pinned.</summary>
    Attached,

    /// <summary>A pinned link on the same cgroup got the new program atomically (BPF_LINK_UPDATE).</summary>
    Replaced,

    /// <summary>The pinned link was on another (or a removed) cgroup: a new link was attached first, then the old one detached.</summary>
    Moved,
}

/// <summary>A pinned socket-hook link as found under the pin root (for dump and cleanup).</summary>
public sealed record PinnedSocketHook(SocketHook Hook, string PinPath, CgroupLinkInfo Link);

/// <summary>
/// The daemon's socket hooks: one cgroup bpf_link per hook, pinned at
/// <c>&lt;pin root&gt;/socket-lb/&lt;hook&gt;</c>, so the hooks stay attached when the daemon exits
/// (like its TC filters) and a restarted daemon swaps its programs in with BPF_LINK_UPDATE: no
/// moment without a hook, and no query of the cgroup for "our" programs among other tools' ones.
/// </summary>
public static class PinnedSocketHooks
{
    /// <summary>The subdirectory of the pin root that holds the link pins.</summary>
    public const string DirectoryName = "socket-lb";

    public static string PinPath(string pinRoot, SocketHook hook) => Path.Combine(pinRoot, DirectoryName, SocketHooks.Name(hook));

    /// <summary>
    /// Makes every hook of <paramref name="cgroupPath"/> run <paramref name="programs"/>' program:
    /// replaces the program of a pinned link on that cgroup in place, moves a link pinned for another
    /// cgroup (attach the new one, then detach the old one), or attaches and pins a new link.
    /// </summary>
    public static IReadOnlyDictionary<SocketHook, PinnedHookChange> Ensure(string pinRoot, string cgroupPath, SocketLoadBalancer programs)
    {
        ArgumentNullException.ThrowIfNull(programs);
        var cgroupId = Cgroup.Id(cgroupPath);
        Directory.CreateDirectory(Path.Combine(pinRoot, DirectoryName));
        using var cgroup = Cgroup.Open(cgroupPath);
        var changes = new Dictionary<SocketHook, PinnedHookChange>();
        foreach (var hook in SocketHooks.All)
        {
            var path = PinPath(pinRoot, hook);
            var program = programs.Programs[hook];
            if (!File.Exists(path))
            {
                using var created = CgroupLink.Create(program, cgroup, cgroupPath, hook);
                created.Pin(path);
                changes[hook] = PinnedHookChange.Attached;
                continue;
            }
            using var pinned = CgroupLink.OpenPinned(path);
            var info = pinned.Info();
            if (info.CgroupId == cgroupId && info.Hook == hook)
            {
                pinned.Update(program);
                changes[hook] = PinnedHookChange.Replaced;
                continue;
            }
            using var replacement = CgroupLink.Create(program, cgroup, cgroupPath, hook);
            pinned.Detach();
            File.Delete(path);
            replacement.Pin(path);
            changes[hook] = PinnedHookChange.Moved;
        }
        return changes;
    }

    /// <summary>The pinned hook links under <paramref name="pinRoot"/> (none when nothing is pinned).</summary>
    public static IReadOnlyList<PinnedSocketHook> Read(string pinRoot)
    {
        var found = new List<PinnedSocketHook>();
        foreach (var hook in SocketHooks.All)
        {
            var path = PinPath(pinRoot, hook);
            if (!File.Exists(path))
                continue;
            using var link = CgroupLink.OpenPinned(path);
            found.Add(new PinnedSocketHook(hook, path, link.Info()));
        }
        return found;
    }

    /// <summary>Detaches and unpins every pinned hook link, then removes the directory; returns what it did.</summary>
    public static IReadOnlyList<string> Remove(string pinRoot)
    {
        var report = new List<string>();
        foreach (var hook in SocketHooks.All)
        {
            var path = PinPath(pinRoot, hook);
            if (!File.Exists(path))
                continue;
            using (var link = CgroupLink.OpenPinned(path))
            {
                var info = link.Info();
                link.Detach();
                report.Add($"detached {SocketHooks.Name(hook)} (link {info.LinkId}, program {info.ProgramId}) from cgroup id {info.CgroupId}");
            }
            File.Delete(path);
            report.Add($"removed pin {path}");
        }
        var directory = Path.Combine(pinRoot, DirectoryName);
        if (Directory.Exists(directory) && !Directory.EnumerateFileSystemEntries(directory).Any())
            Directory.Delete(directory);
        return report;
    }
}
