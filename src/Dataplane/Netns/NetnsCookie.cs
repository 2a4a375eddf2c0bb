using System.Net.Sockets;

namespace ProxyReplacement.Dataplane.Netns;

/// <summary>
/// The network namespace cookie: the kernel's 64-bit id of a namespace, what BPF programs get from
/// <c>bpf_get_netns_cookie()</c>. Unlike the <c>net:[inode]</c> identity it is what a sock_addr
/// program can compare against, and it is never reused while the machine runs.
/// </summary>
public static class NetnsCookie
{
    private const int SolSocket = 1;      // SOL_SOCKET on Linux
    private const int SoNetnsCookie = 71; // SO_NETNS_COOKIE (asm-generic/socket.h), Linux 5.14+

    /// <summary>
    /// The cookie of the calling thread's network namespace (the process's, unless the thread entered
    /// another one, as <see cref="NetworkNamespace.Run{T}"/> does), read with getsockopt(SO_NETNS_COOKIE)
    /// on a throwaway socket, which is created in the caller's namespace.
    /// </summary>
    /// <exception cref="NetworkNamespaceException">The kernel cannot tell (before 5.14: ENOPROTOOPT).</exception>
    public static ulong OfCurrentThread()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        Span<byte> value = stackalloc byte[sizeof(ulong)];
        int length;
        try
        {
            length = socket.GetRawSocketOption(SolSocket, SoNetnsCookie, value);
        }
        catch (SocketException error)
        {
            throw new NetworkNamespaceException("getsockopt(SO_NETNS_COOKIE) failed (the kernel needs 5.14 or later)", error.NativeErrorCode);
        }
        if (length != sizeof(ulong))
            throw new InvalidOperationException($"getsockopt(SO_NETNS_COOKIE) returned {length} bytes, expected 8");
        return BitConverter.ToUInt64(value);
    }
}
