using ProxyReplacement.Dataplane.Interop;

namespace ProxyReplacement.Dataplane.SocketLb;

/// <summary>A cgroup v2 directory as the kernel's attach target: its fd and id.</summary>
public static class Cgroup
{
    /// <summary>
    /// The cgroup id of <paramref name="path"/> (what bpftool and link info show): on cgroup v2 the
    /// inode number of the directory.
    /// </summary>
    public static ulong Id(string path)
    {
        EnsureCgroup2(path);
        return Libc.InodeNumber(path);
    }

    /// <summary>
    /// The path of the cgroup with id <paramref name="id"/> under the cgroup v2 mounts this process
    /// sees (searched breadth first, at most <paramref name="maxDepth"/> levels), or null. For
    /// inspection only: under `ip netns exec` /sys is remounted and its cgroup mounts are gone.
    /// </summary>
    public static string? FindPath(ulong id, int maxDepth = 6)
    {
        if (id == 0 || !File.Exists("/proc/self/mounts"))
            return null;
        var roots = File.ReadLines("/proc/self/mounts").Select(line => line.Split(' '))
            .Where(fields => fields.Length > 2 && fields[2] == "cgroup2").Select(fields => fields[1]).Distinct().ToList();
        foreach (var root in roots)
        {
            var level = new List<string> { root };
            for (var depth = 0; depth <= maxDepth && level.Count > 0; depth++)
            {
                var next = new List<string>();
                foreach (var directory in level)
                {
                    try
                    {
                        if (Libc.InodeNumber(directory) == id)
                            return directory;
                        next.AddRange(Directory.EnumerateDirectories(directory));
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException or BpfException)
                    {
                        // vanished or unreadable while we looked
                    }
                }
                level = next;
            }
        }
        return null;
    }

    /// <summary>Opens the cgroup directory for BPF_LINK_CREATE, after checking it is on a cgroup v2 mount.</summary>
    internal static BpfFdHandle Open(string path)
    {
        EnsureCgroup2(path);
        var fd = Libc.OpenDirectory(path, out var errno);
        if (fd < 0)
            throw new BpfException($"opening cgroup {path}", errno);
        return BpfFdHandle.Own(fd);
    }

    private static void EnsureCgroup2(string path)
    {
        if (!Directory.Exists(path))
            throw new BpfException($"cgroup {path} does not exist (a cgroup v2 directory is needed; under `ip netns exec` /sys is remounted and cgroup mounts below it are not visible)", Errno.ENOENT);
        var type = Libc.FileSystemType(path);
        if (type != Libc.Cgroup2Magic)
            throw new BpfException($"{path} is not on a cgroup v2 mount (filesystem magic 0x{type:x}); socket hooks attach to cgroup v2 only", Errno.EINVAL);
    }
}
