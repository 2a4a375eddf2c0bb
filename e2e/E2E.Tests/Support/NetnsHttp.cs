using System.Net;
using System.Net.Sockets;
using System.Text;
using ProxyReplacement.Dataplane.Netns;

namespace ProxyReplacement.E2E.Tests.Support;

/// <summary>
/// A minimal HTTP/1.0 GET over a socket created inside a network namespace: the daemon's health and
/// metrics endpoints listen on the node namespace's loopback, which no HttpClient of ours can reach.
/// </summary>
internal static class NetnsHttp
{
    public sealed record Response(int Status, string Body);

    /// <summary>The response, or null when nothing listens yet (connection refused) or it does not answer in time.</summary>
    public static async Task<Response?> TryGetAsync(string netns, IPEndPoint server, string path, TimeSpan? timeout = null)
    {
        using var socket = NetworkNamespace.Run(netns, () => new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp));
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(3));
        try
        {
            await socket.ConnectAsync(server, deadline.Token);
            var request = $"GET {path} HTTP/1.0\r\nHost: {server}\r\nConnection: close\r\n\r\n";
            await socket.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None, deadline.Token);
            var received = new MemoryStream();
            var buffer = new byte[8192];
            int count;
            while ((count = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token)) > 0)
                received.Write(buffer, 0, count);
            return Parse(Encoding.UTF8.GetString(received.ToArray()));
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            return null;
        }
    }

    private static Response? Parse(string raw)
    {
        // "HTTP/1.1 200 OK\r\n...headers...\r\n\r\nbody"
        var parts = raw.Split(' ', 3);
        if (parts.Length < 2 || !parts[0].StartsWith("HTTP/", StringComparison.Ordinal) || !int.TryParse(parts[1], out var status))
            return null;
        var bodyStart = raw.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        return new Response(status, bodyStart < 0 ? "" : raw[(bodyStart + 4)..]);
    }
}
