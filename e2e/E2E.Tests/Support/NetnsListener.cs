using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using ProxyReplacement.Dataplane.Netns;

namespace ProxyReplacement.E2E.Tests.Support;

/// <summary>
/// A listening TCP socket made inside a network namespace, handed over as a raw fd (for Kestrel's
/// <c>ListenHandle</c>): the daemon runs in the node namespace, so a server it must reach listens there,
/// on that namespace's loopback, without touching the host's interfaces. A socket keeps the namespace it
/// was created in, whichever thread accepts on it later.
/// </summary>
internal static partial class NetnsListener
{
    /// <summary>Binds and listens on <paramref name="endpoint"/> inside <paramref name="netns"/>; the caller owns the returned fd.</summary>
    public static ulong Create(string netns, IPEndPoint endpoint) => NetworkNamespace.Run(netns, () =>
    {
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        socket.Bind(endpoint);
        socket.Listen(128);
        // A duplicate outlives the Socket object disposed here; Kestrel owns (and closes) it.
        var fd = Dup((int)socket.Handle);
        if (fd < 0)
            throw new InvalidOperationException($"dup of the listening socket failed: errno {Marshal.GetLastPInvokeError()}");
        return (ulong)fd;
    });

    [LibraryImport("libc", EntryPoint = "dup", SetLastError = true)]
    private static partial int Dup(int fd);
}
