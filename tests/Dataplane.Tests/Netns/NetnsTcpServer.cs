using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using ProxyReplacement.Dataplane.Netns;

namespace ProxyReplacement.Dataplane.Tests.Netns;

/// <summary>
/// A TCP server listening inside a network namespace, serving each connection with a handler. The
/// listening socket is created in the namespace (via <see cref="NetworkNamespace.Run{T}"/>) and keeps
/// it, so the accept and serve loops run on ordinary pool threads. Records every peer it accepted.
/// The handler owns nothing: the server closes each connection when the handler returns, and on Dispose.
/// </summary>
public sealed class NetnsTcpServer : IDisposable
{
    private readonly Socket _listener;
    private readonly Func<Socket, CancellationToken, Task> _serve;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<IPEndPoint> _peers = new();
    private readonly ConcurrentDictionary<Task, Socket> _connections = new();
    private readonly Task _acceptLoop;

    private NetnsTcpServer(Socket listener, Func<Socket, CancellationToken, Task> serve)
    {
        _listener = listener;
        _serve = serve;
        LocalEndPoint = (IPEndPoint)listener.LocalEndPoint!;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public IPEndPoint LocalEndPoint { get; }

    /// <summary>The remote address of each accepted connection, as the server saw it.</summary>
    public IReadOnlyCollection<IPEndPoint> Peers => _peers.ToArray();

    /// <summary>Connections accepted so far.</summary>
    public int Accepted => _peers.Count;

    public static NetnsTcpServer Start(string netns, IPEndPoint endpoint, Func<Socket, CancellationToken, Task> serve)
    {
        var listener = NetworkNamespace.Run(netns, () =>
        {
            var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                socket.Bind(endpoint);
                socket.Listen(128);
                return socket;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        });
        return new NetnsTcpServer(listener, serve);
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
            var serve = Task.Run(() => ServeAsync(connection));
            _connections[serve] = connection;
            // Forget finished connections so a long test does not keep thousands of sockets referenced.
            foreach (var done in _connections.Keys.Where(task => task.IsCompleted).ToList())
                _connections.TryRemove(done, out _);
        }
    }

    private async Task ServeAsync(Socket connection)
    {
        try
        {
            await _serve(connection, _stop.Token);
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
