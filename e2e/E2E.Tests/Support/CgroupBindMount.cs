using ProxyReplacement.Dataplane.Tests.Netns;

namespace ProxyReplacement.E2E.Tests.Support;

/// <summary>
/// A bind mount of a cgroup directory at a path outside /sys, so that a process started with
/// `ip netns exec` (which remounts /sys) still reaches the cgroup. The same cgroup (same id), seen
/// through another mount. Dispose unmounts it and removes the mount point.
/// </summary>
internal sealed class CgroupBindMount : IDisposable
{
    private CgroupBindMount(string path) => Path = path;

    public string Path { get; }

    public static CgroupBindMount Create(string cgroup, string mountPoint)
    {
        Directory.CreateDirectory(mountPoint);
        try
        {
            IpCommand.Execute("mount", ["--bind", cgroup, mountPoint]);
        }
        catch
        {
            Directory.Delete(mountPoint);
            throw;
        }
        return new CgroupBindMount(mountPoint);
    }

    public void Dispose()
    {
        IpCommand.Execute("umount", [Path]);
        Directory.Delete(Path);
    }
}
