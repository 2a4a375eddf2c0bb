using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using ProxyReplacement.Dataplane.Netns;

namespace ProxyReplacement.Dataplane.Tests.Netns;

/// <summary>
/// A TCP echo server listening inside a network namespace. The listening socket is created in the
/// namespace (via <see cref="NetworkNamespace.Run{T}"/>) and keeps it, so the accept and echo loops run
/// on ordinary pool threads. Records every peer it accepted. Dispose stops everything.
/// </summary>
public sealed class TcpEchoServer : IDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<IPEndPoint> _peers = new();
    private readonly ConcurrentDictionary<Task, Socket> _connections = new();
    private readonly Task _acceptLoop;

    private TcpEchoServer(Socket listener)
    {
        _listener = listener;
        LocalEndPoint = (IPEndPoint)listener.LocalEndPoint!;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public IPEndPoint LocalEndPoint { get; }

    /// <summary>The remote address of each accepted connection, as the server saw it.</summary>
    public IReadOnlyCollection<IPEndPoint> Peers => _peers.ToArray();

    public static TcpEchoServer Start(string netns, IPEndPoint endpoint)
    {
        var listener = NetworkNamespace.Run(netns, () =>
        {
            var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                socket.Bind(endpoint);
                socket.Listen(64);
                return socket;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        });
        return new TcpEchoServer(listener);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        foreach (var connection in _connections.Values)
            connection.Dispose();
        // The loops end on cancellation or on their socket being closed; never hang a test run on them.
        Task.WaitAll([_acceptLoop, .. _connections.Keys], TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _peers.Enqueue((IPEndPoint)connection.RemoteEndPoint!);
            var echo = Task.Run(() => EchoAsync(connection));
            _connections[echo] = connection;
        }
    }

    private async Task EchoAsync(Socket connection)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var received = await connection.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (received == 0)
                    break;
                await connection.SendAsync(buffer.AsMemory(0, received), SocketFlags.None, _stop.Token);
            }
            connection.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Stopping, or the client went away.
        }
        finally
        {
            connection.Dispose();
        }
    }
}
