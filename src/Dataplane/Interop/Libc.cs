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
