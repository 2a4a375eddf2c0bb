using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace ProxyReplacement.Dataplane.Netns;

/// <summary>The libc calls that namespace switching and interface lookups need.</summary>
internal static partial class NetnsInterop
{
    private const string Libc = "libc";

    /// <summary><c>CLONE_NEWNET</c>: setns must only accept a network namespace fd.</summary>
    private const int CloneNewNet = 0x40000000;

    private const int OpenReadOnly = 0;        // O_RDONLY
    private const int OpenCloseOnExec = 0x80000; // O_CLOEXEC: child processes (ip, tcpdump) must not inherit it

    private const int InterfaceNameSize = 16; // IF_NAMESIZE

    [LibraryImport(Libc, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport(Libc, EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(SafeFileHandle fd, int nsType);

    [LibraryImport(Libc, EntryPoint = "if_nametoindex", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial uint IfNameToIndex(string name);

    [LibraryImport(Libc, EntryPoint = "if_indextoname", SetLastError = true)]
    private static unsafe partial byte* IfIndexToName(uint ifindex, byte* buffer);

    /// <summary>Opens a namespace file (/var/run/netns/x, /proc/thread-self/ns/net) read-only.</summary>
    internal static SafeFileHandle OpenNamespace(string path)
    {
        var fd = Open(path, OpenReadOnly | OpenCloseOnExec);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new NetworkNamespaceException($"cannot open network namespace {path}", errno);
        }
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>Moves the calling OS thread (only it) into the network namespace behind <paramref name="fd"/>.</summary>
    internal static void EnterNetworkNamespace(SafeFileHandle fd, string description)
    {
        if (SetNs(fd, CloneNewNet) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new NetworkNamespaceException($"setns into network namespace {description} failed", errno);
        }
    }

    /// <summary>The index of an interface in the calling thread's namespace; null when there is none.</summary>
    internal static int? InterfaceIndex(string name)
    {
        var index = IfNameToIndex(name);
        return index == 0 ? null : (int)index;
    }

    /// <summary>The name of an interface in the calling thread's namespace; null when there is none.</summary>
    internal static unsafe string? InterfaceName(int ifindex)
    {
        if (ifindex <= 0)
            return null;
        var buffer = stackalloc byte[InterfaceNameSize];
        var result = IfIndexToName((uint)ifindex, buffer);
        return result == null ? null : Marshal.PtrToStringUTF8((nint)result);
    }
}
