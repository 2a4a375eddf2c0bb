using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ProxyReplacement.Dataplane.Netns;

namespace ProxyReplacement.E2E.Tests.Support;

/// <summary>
/// A backend pod's TCP server: answers every line "x" with "name: x", so a client behind the VIP can
/// tell which backend it reached, and keep talking on the same connection. The listening socket is made
/// inside the pod's namespace and keeps it. Dispose stops everything.
/// </summary>
internal sealed class NamedBackendServer : IDisposable
{
    public const string Separator = ": ";

    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Task, Socket> _connections = new();
    private readonly Task _acceptLoop;
    private int _accepted;

    private NamedBackendServer(Socket listener, string name)
    {
        _listener = listener;
        Name = name;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public string Name { get; }

    /// <summary>Connections accepted so far.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    public static NamedBackendServer Start(string netns, IPEndPoint endpoint, string name)
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
        return new NamedBackendServer(listener, name);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        foreach (var connection in _connections.Values)
            connection.Dispose();
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
            Interlocked.Increment(ref _accepted);
            var serve = Task.Run(() => ServeAsync(connection));
            _connections[serve] = connection;
            // Forget finished connections so a long test does not keep thousands of sockets referenced.
            foreach (var done in _connections.Keys.Where(task => task.IsCompleted).ToList())
                _connections.TryRemove(done, out _);
        }
    }

    private async Task ServeAsync(Socket connection)
    {
        var pending = new List<byte>();
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var received = await connection.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (received == 0)
                    break;
                pending.AddRange(buffer.AsSpan(0, received));
                int newline;
                while ((newline = pending.IndexOf((byte)'\n')) >= 0)
                {
                    var line = Encoding.UTF8.GetString(pending.GetRange(0, newline).ToArray());
                    pending.RemoveRange(0, newline + 1);
                    await connection.SendAsync(Encoding.UTF8.GetBytes($"{Name}{Separator}{line}\n"), SocketFlags.None, _stop.Token);
                }
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
