using System.Net;
using System.Net.Sockets;
using System.Text;
using ProxyReplacement.Dataplane.Tests.Netns;

namespace ProxyReplacement.E2E.Tests.Support;

/// <summary>
/// A backend pod's TCP server: answers every line "x" with "name: x", so a client behind the VIP can
/// tell which backend it reached, and keep talking on the same connection; the line <see cref="PeerQuestion"/> is
/// answered with "name: ip:port", the client address as this connection sees it (client IP preservation, SNAT); after
/// the answer to <see cref="CloseRequest"/> the server closes the connection first, as an HTTP server answering "Connection: close".
/// Listens inside the pod's namespace through the harness's <see cref="NetnsTcpServer"/>. Dispose stops everything.
/// </summary>
internal sealed class NamedBackendServer : IDisposable
{
    public const string Separator = ": ";

    /// <summary>The line a client sends to learn which address this backend sees it from.</summary>
    public const string PeerQuestion = "peer?";

    /// <summary>The line after whose answer this backend closes the connection itself, first (so it keeps the TIME_WAIT).</summary>
    public const string CloseRequest = "bye";

    private readonly NetnsTcpServer _server;

    private NamedBackendServer(string netns, IPEndPoint endpoint, string name)
    {
        Name = name;
        _server = NetnsTcpServer.Start(netns, endpoint, ServeAsync);
    }

    public string Name { get; }

    /// <summary>Connections accepted so far.</summary>
    public int Accepted => _server.Accepted;

    /// <summary>The client addresses of the accepted connections: what the backend sees as its client.</summary>
    public IReadOnlyCollection<IPEndPoint> Peers => _server.Peers;

    public static NamedBackendServer Start(string netns, IPEndPoint endpoint, string name) => new(netns, endpoint, name);

    public void Dispose() => _server.Dispose();

    private async Task ServeAsync(Socket connection, CancellationToken stop)
    {
        var pending = new List<byte>();
        var buffer = new byte[4096];
        while (true)
        {
            var received = await connection.ReceiveAsync(buffer, SocketFlags.None, stop);
            if (received == 0)
                return;
            pending.AddRange(buffer.AsSpan(0, received));
            int newline;
            while ((newline = pending.IndexOf((byte)'\n')) >= 0)
            {
                var line = Encoding.UTF8.GetString(pending.GetRange(0, newline).ToArray());
                pending.RemoveRange(0, newline + 1);
                var answer = line == PeerQuestion ? connection.RemoteEndPoint!.ToString() : line;
                await connection.SendAsync(Encoding.UTF8.GetBytes($"{Name}{Separator}{answer}\n"), SocketFlags.None, stop);
                if (line == CloseRequest)
                    return; // the server closes the connection when the handler returns
            }
        }
    }
}
