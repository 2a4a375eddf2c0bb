using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Health;

/// <summary>
/// One Service's health check node port: a listening socket and a minimal HTTP/1.x responder. Every request (any
/// method, any path, as kube-proxy's handler) gets kube-proxy's answer: 200 when this node has local endpoints and the
/// proxy is healthy, else 503; the JSON body <c>{"service":{"namespace","name"},"localEndpoints","serviceProxyHealthy"}</c>;
/// headers <c>Content-Type: application/json</c>, <c>X-Content-Type-Options: nosniff</c> and
/// <c>X-Load-Balancing-Endpoint-Weight: N</c> (the local endpoint count, which weighted load balancers use).
/// Each answer closes its connection (<c>Connection: close</c>): load balancer probes open one per check.
/// A raw socket rather than Kestrel because a node may need hundreds of these, opened and closed as Services come
/// and go (measured: see <c>src/ServiceProxy/Health/README.md</c>).
/// </summary>
internal sealed class HealthCheckListener : IDisposable
{
    /// <summary>The most bytes of request head read; a larger head gets a 431 and the connection closed.</summary>
    internal const int MaxRequestHead = 8192;

    /// <summary>The most connections handled at once; more are closed at accept (a probe retries).</summary>
    internal const int MaxConnections = 64;

    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _socket;
    private readonly CancellationTokenSource _stop = new();
    private readonly Func<bool> _proxyHealthy;
    private readonly TimeProvider _time;
    private readonly ObjectKey _service;
    private volatile int _localEndpoints;
    private int _connections;

    private HealthCheckListener(Socket socket, ObjectKey service, int port, Func<bool> proxyHealthy, TimeProvider time)
    {
        _socket = socket;
        _service = service;
        Port = port;
        _proxyHealthy = proxyHealthy;
        _time = time;
    }

    public int Port { get; }

    /// <summary>The address and port actually bound (the port is known here when 0 was asked, as in tests).</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public int LocalEndpoints
    {
        get => _localEndpoints;
        set => _localEndpoints = value;
    }

    /// <summary>Binds and starts serving; throws <see cref="SocketException"/> when the port cannot be bound.</summary>
    public static HealthCheckListener Open(IPAddress address, ObjectKey service, int port, int localEndpoints, Func<bool> proxyHealthy, TimeProvider time)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // As Go's listeners: a port whose old connections linger in TIME_WAIT can be bound again at once. (On Linux this
            // does not let two listeners share a port: a port in use still fails.)
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.Equals(IPAddress.IPv6Any))
                socket.DualMode = true;
            socket.Bind(new IPEndPoint(address, port));
            socket.Listen(128);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var listener = new HealthCheckListener(socket, service, port, proxyHealthy, time) { LocalEndpoints = localEndpoints };
        _ = Task.Run(listener.AcceptLoopAsync);
        return listener;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _socket.Dispose(); // frees the port now; connections already accepted finish on their own
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        CancellationToken stopping;
        try
        {
            stopping = _stop.Token;
        }
        catch (ObjectDisposedException)
        {
            return;
        }
        while (!stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _socket.AcceptAsync(stopping).ConfigureAwait(false);
            }
            catch (Exception error) when (error is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (stopping.IsCancellationRequested)
                    return;
                continue; // a connection reset before accept, and the like
            }
            if (Interlocked.Increment(ref _connections) > MaxConnections)
            {
                Interlocked.Decrement(ref _connections);
                client.Dispose();
                continue;
            }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        try
        {
            using var timeout = new CancellationTokenSource(RequestTimeout, _time);
            var head = await ReadHeadAsync(client, timeout.Token).ConfigureAwait(false);
            var response = head switch
            {
                null => Render(431, "Request Header Fields Too Large", headOnly: false, Array.Empty<(string, string)>(), ""),
                { } text when ParseRequestLine(text) is { } method => Answer(method == "HEAD"),
                _ => Render(400, "Bad Request", headOnly: false, Array.Empty<(string, string)>(), ""),
            };
            await client.SendAsync(response, SocketFlags.None, timeout.Token).ConfigureAwait(false);
            client.Shutdown(SocketShutdown.Both);
        }
        catch (Exception error) when (error is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // the client went away or was too slow: nothing to answer
        }
        finally
        {
            client.Dispose();
            Interlocked.Decrement(ref _connections);
        }
    }

    /// <summary>The request head up to the blank line; null when it is larger than <see cref="MaxRequestHead"/>.</summary>
    private static async Task<string?> ReadHeadAsync(Socket client, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxRequestHead];
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
                return null;
            var read = await client.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (read == 0)
                return Encoding.Latin1.GetString(buffer, 0, length); // the client closed: answer what was sent
            var searchFrom = Math.Max(0, length - 3);
            length += read;
            var end = buffer.AsSpan(searchFrom, length - searchFrom).IndexOf("\r\n\r\n"u8);
            if (end >= 0)
                return Encoding.Latin1.GetString(buffer, 0, searchFrom + end);
        }
    }

    /// <summary>The method of an HTTP/1.x request line (<c>METHOD target HTTP/1.x</c>), or null when it is not one.</summary>
    internal static string? ParseRequestLine(string head)
    {
        var lineEnd = head.IndexOf("\r\n", StringComparison.Ordinal);
        var line = lineEnd >= 0 ? head[..lineEnd] : head;
        var parts = line.Split(' ');
        if (parts.Length != 3 || parts[0].Length == 0 || parts[1].Length == 0 || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
            return null;
        foreach (var c in parts[0])
            if (!char.IsAsciiLetterUpper(c))
                return null;
        return parts[0];
    }

    private byte[] Answer(bool headOnly)
    {
        var count = LocalEndpoints;
        var healthy = _proxyHealthy();
        var ok = count != 0 && healthy;
        return Render(ok ? 200 : 503, ok ? "OK" : "Service Unavailable", headOnly,
            [("X-Load-Balancing-Endpoint-Weight", count.ToString(CultureInfo.InvariantCulture))],
            Body(_service, count, healthy));
    }

    /// <summary>kube-proxy's body, byte for byte: indented with tabs, no trailing newline.</summary>
    internal static string Body(ObjectKey service, int localEndpoints, bool proxyHealthy) =>
        "{\n" +
        "\t\"service\": {\n" +
        $"\t\t\"namespace\": \"{service.Namespace}\",\n" +
        $"\t\t\"name\": \"{service.Name}\"\n" +
        "\t},\n" +
        $"\t\"localEndpoints\": {localEndpoints.ToString(CultureInfo.InvariantCulture)},\n" +
        $"\t\"serviceProxyHealthy\": {(proxyHealthy ? "true" : "false")}\n" +
        "}";

    private byte[] Render(int status, string reason, bool headOnly, (string Name, string Value)[] extraHeaders, string body)
    {
        var bodyBytes = Encoding.UTF8.GetBytes(body);
        var text = new StringBuilder();
        text.Append("HTTP/1.1 ").Append(status.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(reason).Append("\r\n");
        if (status is 200 or 503)
        {
            text.Append("Content-Type: application/json\r\n");
            text.Append("X-Content-Type-Options: nosniff\r\n");
        }
        foreach (var (name, value) in extraHeaders)
            text.Append(name).Append(": ").Append(value).Append("\r\n");
        text.Append("Date: ").Append(_time.GetUtcNow().ToString("r", CultureInfo.InvariantCulture)).Append("\r\n");
        text.Append("Content-Length: ").Append(bodyBytes.Length.ToString(CultureInfo.InvariantCulture)).Append("\r\n");
        text.Append("Connection: close\r\n\r\n");
        var headBytes = Encoding.ASCII.GetBytes(text.ToString());
        if (headOnly)
            return headBytes;
        var all = new byte[headBytes.Length + bodyBytes.Length];
        headBytes.CopyTo(all, 0);
        bodyBytes.CopyTo(all, headBytes.Length);
        return all;
    }
}
