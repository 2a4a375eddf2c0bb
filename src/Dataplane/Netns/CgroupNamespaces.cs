namespace ProxyReplacement.Dataplane.Netns;

/// <summary>A network namespace that processes of a cgroup tree are in: its identity (<c>net:[inode]</c>) and those pids.</summary>
public sealed record CgroupNamespace(string Identity, IReadOnlyList<int> Pids);

/// <summary>What <see cref="CgroupNamespaces.Find"/> saw: the namespaces, and the processes whose namespace it could not read.</summary>
/// <param name="Namespaces">One entry per namespace (deduplicated by identity), in the order first met.</param>
/// <param name="Processes">The processes listed by the cgroup tree (those outside the caller's pid namespace included).</param>
/// <param name="Denied">Pids whose <c>/proc/PID/ns/net</c> could not be read for lack of permission (EACCES, EPERM:
/// reading another user's or a more privileged process's namespace link needs CAP_SYS_PTRACE).</param>
/// <param name="Invisible">Processes listed as pid 0: outside the caller's pid namespace (a container without hostPID).</param>
public sealed record CgroupNamespaceScan(IReadOnlyList<CgroupNamespace> Namespaces, int Processes, IReadOnlyList<int> Denied, int Invisible = 0)
{
    /// <summary>Processes whose network namespace could not be found (<see cref="Denied"/> and <see cref="Invisible"/>).</summary>
    public int Unreachable => Denied.Count + Invisible;
}

/// <summary>
/// The network namespaces of the processes in a cgroup v2 tree: <c>cgroup.procs</c> of the directory and of every
/// directory below it, each pid's <c>/proc/PID/ns/net</c> link read and deduplicated by the namespace's identity.
/// The socket hooks attached to a cgroup translate the sockets of exactly these processes, in whatever network
/// namespaces they live (pods), so these are the namespaces whose sockets the socket terminator walks. Processes that
/// exit during the scan are skipped. Needs the host's pid namespace (hostPID) to see pods' processes.
/// </summary>
public static class CgroupNamespaces
{
    public static CgroupNamespaceScan Find(string cgroupPath, string procRoot = "/proc")
    {
        ArgumentException.ThrowIfNullOrEmpty(cgroupPath);
        var pids = Pids(cgroupPath, out var invisible);
        var byIdentity = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var order = new List<string>();
        var denied = new List<int>();
        foreach (var pid in pids)
        {
            string? identity;
            try
            {
                identity = new FileInfo(Path.Combine(procRoot, pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "ns", "net")).LinkTarget;
            }
            catch (UnauthorizedAccessException)
            {
                denied.Add(pid);
                continue;
            }
            catch (IOException)
            {
                continue; // gone meanwhile
            }
            if (identity is null)
                continue;
            if (!byIdentity.TryGetValue(identity, out var list))
            {
                byIdentity[identity] = list = [];
                order.Add(identity);
            }
            list.Add(pid);
        }
        return new CgroupNamespaceScan(order.Select(id => new CgroupNamespace(id, byIdentity[id])).ToList(), pids.Count + invisible, denied, invisible);
    }

    /// <summary>
    /// The pids in <paramref name="cgroupPath"/> and every cgroup below it (distinct, in walk order). A process outside
    /// the caller's pid namespace is listed by the kernel as 0: those are counted in <paramref name="invisible"/>.
    /// </summary>
    public static IReadOnlyList<int> Pids(string cgroupPath, out int invisible)
    {
        invisible = 0;
        var pids = new List<int>();
        var seen = new HashSet<int>();
        var pending = new Stack<string>();
        pending.Push(cgroupPath);
        while (pending.TryPop(out var directory))
        {
            try
            {
                foreach (var line in File.ReadLines(Path.Combine(directory, "cgroup.procs")))
                {
                    if (!int.TryParse(line, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid))
                        continue;
                    if (pid == 0)
                        invisible++;
                    else if (seen.Add(pid))
                        pids.Add(pid);
                }
                foreach (var child in Directory.EnumerateDirectories(directory))
                    pending.Push(child);
            }
            catch (Exception error) when (error is IOException or UnauthorizedAccessException)
            {
                if (directory == cgroupPath)
                    throw new IOException($"cannot read the processes of cgroup {cgroupPath}: {error.Message}", error);
                // a child cgroup removed during the walk
            }
        }
        return pids;
    }
}
