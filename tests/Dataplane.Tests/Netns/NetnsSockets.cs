using System.Net;
using System.Net.Sockets;
using System.Text;
using ProxyReplacement.Dataplane.Netns;

namespace ProxyReplacement.Dataplane.Tests.Netns;

/// <summary>Client sockets that live in a network namespace, and small helpers for line round trips.</summary>
public static class NetnsSockets
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    /// <summary>A TCP socket created in <paramref name="netns"/> and connected to <paramref name="remote"/> from there.</summary>
    /// <param name="local">The source address (and port, 0: any) to bind first; null leaves the choice to the kernel.</param>
    public static async Task<Socket> ConnectTcpAsync(string netns, IPEndPoint remote, TimeSpan? timeout = null, IPEndPoint? local = null)
    {
        var socket = NetworkNamespace.Run(netns, () => new Socket(remote.AddressFamily, SocketType.Stream, ProtocolType.Tcp));
        try
        {
            if (local is not null)
                socket.Bind(local);
            using var deadline = new CancellationTokenSource(timeout ?? DefaultTimeout);
            await socket.ConnectAsync(remote, deadline.Token);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>An unbound, unconnected UDP socket created in <paramref name="netns"/>.</summary>
    public static Socket CreateUdp(string netns, AddressFamily family = AddressFamily.InterNetwork) =>
        NetworkNamespace.Run(netns, () => new Socket(family, SocketType.Dgram, ProtocolType.Udp));

    /// <summary>Sends <paramref name="line"/> plus '\n' and reads until '\n' comes back; returns what came back without it.</summary>
    public static async Task<string> SendLineAndReadEchoAsync(Socket socket, string line, TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? DefaultTimeout);
        await socket.SendAsync(Encoding.UTF8.GetBytes(line + "\n"), SocketFlags.None, deadline.Token);
        var received = new List<byte>();
        var buffer = new byte[4096];
        while (!received.Contains((byte)'\n'))
        {
            var count = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token);
            if (count == 0)
                break;
            received.AddRange(buffer.AsSpan(0, count));
        }
        return Encoding.UTF8.GetString(received.ToArray()).TrimEnd('\n');
    }

    /// <summary>Sends one datagram to <paramref name="remote"/> and waits for one back; returns its payload and sender.</summary>
    public static async Task<(string Payload, IPEndPoint From)> UdpRoundTripAsync(Socket socket, IPEndPoint remote, string payload, TimeSpan? timeout = null)
    {
        var (answer, from) = await UdpRoundTripAsync(socket, remote, Encoding.UTF8.GetBytes(payload), timeout);
        return (Encoding.UTF8.GetString(answer), from);
    }

    /// <summary>Sends one datagram of <paramref name="payload"/> to <paramref name="remote"/> and waits for one back; returns its bytes and sender.</summary>
    public static async Task<(byte[] Payload, IPEndPoint From)> UdpRoundTripAsync(Socket socket, IPEndPoint remote, byte[] payload, TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? DefaultTimeout);
        await socket.SendToAsync(payload, SocketFlags.None, remote, deadline.Token);
        var buffer = new byte[64 * 1024];
        var result = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), deadline.Token);
        return (buffer[..result.ReceivedBytes], (IPEndPoint)result.RemoteEndPoint);
    }
}
