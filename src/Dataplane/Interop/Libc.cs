using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Interop;

/// <summary>The few libc calls the dataplane needs besides libbpf.</summary>
internal static unsafe partial class Libc
{
    private const string Library = "libc";

    public const int ClockMonotonic = 1;
    private const int FcntlDupFdCloexec = 1030; // F_DUPFD_CLOEXEC

    /// <summary>BPF_FS_MAGIC (linux/magic.h): f_type of a bpffs mount.</summary>
    public const long BpfFsMagic = 0xcafe4a11;

    /// <summary>CGROUP2_SUPER_MAGIC (linux/magic.h): f_type of a cgroup v2 mount.</summary>
    public const long Cgroup2Magic = 0x63677270;

    /// <summary>
    /// vsnprintf with the va_list libbpf hands its print callback. On x86-64 va_list is an array
    /// type, so it arrives (and is passed on) as a pointer; on arm64 it is a struct passed by
    /// reference. Either way a pointer-sized value.
    /// </summary>
    [LibraryImport(Library)]
    public static partial int vsnprintf(byte* buffer, nuint size, byte* format, nint vaList);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int clock_gettime(int clockId, Timespec* time);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport(Library, SetLastError = true)]
    private static partial int fcntl(int fd, int command, int argument);

    [LibraryImport(Library, SetLastError = true)]
    private static partial int statfs([MarshalAs(UnmanagedType.LPUTF8Str)] string path, void* buffer);

    private const int OpenReadOnlyDirectoryCloseOnExec = 0x10000 | 0x80000; // O_RDONLY | O_DIRECTORY | O_CLOEXEC
    private const int AtFdCwd = -100;
    private const uint StatxIno = 0x100;

    [LibraryImport(Library, SetLastError = true)]
    private static partial int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [LibraryImport(Library, SetLastError = true)]
    private static partial int statx(int directoryFd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, void* buffer);

    /// <summary>Opens a directory read-only (close-on-exec): the fd form of a cgroup for BPF_LINK_CREATE.</summary>
    public static int OpenDirectory(string path, out int errno)
    {
        var fd = open(path, OpenReadOnlyDirectoryCloseOnExec);
        errno = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
        return fd;
    }

    /// <summary>The inode number of <paramref name="path"/> (statx stx_ino); on cgroup v2 this is the cgroup id.</summary>
    public static ulong InodeNumber(string path)
    {
        // struct statx is 256 bytes; stx_ino (__u64) is at offset 32.
        var buffer = stackalloc ulong[32];
        if (statx(AtFdCwd, path, 0, StatxIno, buffer) != 0)
            throw new BpfException($"statx {path}", Marshal.GetLastPInvokeError());
        return buffer[4];
    }

    [LibraryImport(Library, EntryPoint = "read", SetLastError = true)]
    private static partial nint ReadFd(int fd, byte* buffer, nuint count);

    /// <summary>read(2): the number of bytes read (0 at the end), or -1 with <paramref name="errno"/> set.</summary>
    public static long Read(int fd, Span<byte> buffer, out int errno)
    {
        fixed (byte* pointer = buffer)
        {
            var n = ReadFd(fd, pointer, (nuint)buffer.Length);
            errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
            return n;
        }
    }

    /// <summary>dup() with close-on-exec, so a map can outlive the object it came from.</summary>
    public static int DuplicateCloseOnExec(int fd) => fcntl(fd, FcntlDupFdCloexec, 0);

    /// <summary>The filesystem magic (f_type) of the filesystem holding <paramref name="path"/>.</summary>
    public static long FileSystemType(string path)
    {
        // struct statfs is 120 bytes on x86-64 and arm64 with f_type (a long) first.
        var buffer = stackalloc long[32];
        if (statfs(path, buffer) != 0)
            throw new BpfException($"statfs {path}", Marshal.GetLastPInvokeError());
        return buffer[0];
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}
