using System.Net;
using System.Net.Sockets;
using ProxyReplacement.Dataplane.Tests.Netns;

namespace ProxyReplacement.E2E.Tests.Support;

/// <summary>The client side of a <see cref="TcpEchoServer"/>: payloads of a chosen size, both ways (for UDP: <see cref="NetnsSockets.UdpRoundTripAsync(Socket, IPEndPoint, byte[], TimeSpan?)"/>).</summary>
internal static class EchoClient
{
    /// <summary><paramref name="length"/> bytes of a pattern that a shifted or dropped byte cannot repeat by chance.</summary>
    public static byte[] Payload(int length, int seed = 1)
    {
        var payload = new byte[length];
        new Random(seed).NextBytes(payload);
        return payload;
    }

    /// <summary>
    /// Sends <paramref name="payload"/> on a connection to a TCP echo while reading the echo concurrently (so a large
    /// payload cannot deadlock on full buffers); returns what came back, as many bytes as were sent unless the peer
    /// closed first.
    /// </summary>
    public static async Task<byte[]> ExchangeAsync(Socket socket, byte[] payload, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        var send = socket.SendAsync(payload, SocketFlags.None, deadline.Token).AsTask();
        var received = new byte[payload.Length];
        var total = 0;
        while (total < received.Length)
        {
            var count = await socket.ReceiveAsync(received.AsMemory(total), SocketFlags.None, deadline.Token);
            if (count == 0)
                break;
            total += count;
        }
        await send;
        return received[..total];
    }
}
