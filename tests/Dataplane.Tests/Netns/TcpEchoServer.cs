using System.Net;
using System.Net.Sockets;

namespace ProxyReplacement.Dataplane.Tests.Netns;

/// <summary>A TCP echo server listening inside a network namespace (see <see cref="NetnsTcpServer"/>).</summary>
public sealed class TcpEchoServer : IDisposable
{
    private readonly NetnsTcpServer _server;

    private TcpEchoServer(NetnsTcpServer server) => _server = server;

    public IPEndPoint LocalEndPoint => _server.LocalEndPoint;

    /// <summary>The remote address of each accepted connection, as the server saw it.</summary>
    public IReadOnlyCollection<IPEndPoint> Peers => _server.Peers;

    public static TcpEchoServer Start(string netns, IPEndPoint endpoint) =>
        new(NetnsTcpServer.Start(netns, endpoint, EchoAsync));

    public void Dispose() => _server.Dispose();

    private static async Task EchoAsync(Socket connection, CancellationToken stop)
    {
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var received = await connection.ReceiveAsync(buffer, SocketFlags.None, stop);
            if (received == 0)
                return;
            await connection.SendAsync(buffer.AsMemory(0, received), SocketFlags.None, stop);
        }
    }
}
