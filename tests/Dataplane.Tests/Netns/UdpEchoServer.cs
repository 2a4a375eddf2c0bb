using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using ProxyReplacement.Dataplane.Netns;

namespace ProxyReplacement.Dataplane.Tests.Netns;

/// <summary>
/// A UDP echo server bound inside a network namespace: each datagram goes back to its sender.
/// Records every sender address. Dispose stops it.
/// </summary>
public sealed class UdpEchoServer : IDisposable
{
    private readonly Socket _socket;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<IPEndPoint> _peers = new();
    private readonly Task _loop;

    private UdpEchoServer(Socket socket)
    {
        _socket = socket;
        LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!;
        _loop = Task.Run(EchoLoopAsync);
    }

    public IPEndPoint LocalEndPoint { get; }

    /// <summary>The source address of each datagram received.</summary>
    public IReadOnlyCollection<IPEndPoint> Peers => _peers.ToArray();

    public static UdpEchoServer Start(string netns, IPEndPoint endpoint)
    {
        var socket = NetworkNamespace.Run(netns, () =>
        {
            var created = new Socket(endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                created.Bind(endpoint);
                return created;
            }
            catch
            {
                created.Dispose();
                throw;
            }
        });
        return new UdpEchoServer(socket);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _socket.Dispose();
        _loop.Wait(TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }

    private async Task EchoLoopAsync()
    {
        var buffer = new byte[64 * 1024];
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var received = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), _stop.Token);
                var sender = (IPEndPoint)received.RemoteEndPoint;
                _peers.Enqueue(sender);
                await _socket.SendToAsync(buffer.AsMemory(0, received.ReceivedBytes), SocketFlags.None, sender, _stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                // An ICMP error from an earlier send surfaces on the next receive; keep serving.
            }
        }
    }
}
