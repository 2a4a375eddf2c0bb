using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Tests.Support;

/// <summary>
/// A private bpffs instance mounted on a fresh temp directory: every mount of type "bpf" is its
/// own filesystem, so pins made here are invisible elsewhere and vanish with the unmount (maps
/// with no other users are then freed). Dispose unmounts and removes the directory.
/// </summary>
public sealed partial class BpffsMount : IDisposable
{
    private const int MntDetach = 2; // MNT_DETACH: unmount even if a test left an fd open inside
    private bool _disposed;

    private BpffsMount(string path) => Path = path;

    /// <summary>The mount point; use it (or a subdirectory) as a pin root.</summary>
    public string Path { get; }

    public static BpffsMount Create()
    {
        var path = Directory.CreateTempSubdirectory("prt-bpffs-").FullName;
        if (mount("bpf", path, "bpf", 0, "mode=0700") != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            Directory.Delete(path);
            throw new InvalidOperationException($"mount -t bpf on {path} failed: errno {errno}");
        }
        return new BpffsMount(path);
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        if (umount2(Path, MntDetach) != 0)
            throw new InvalidOperationException($"umount {Path} failed: errno {Marshal.GetLastPInvokeError()}");
        Directory.Delete(Path);
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mount(string source, string target, string fileSystemType, ulong flags, string data);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int umount2(string target, int flags);
}
