using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ProxyReplacement.Dataplane.Tests.Netns;

namespace ProxyReplacement.E2E.Tests.Support;

/// <summary>The client pod's side: connections to a Service VIP, and which backend answered them.</summary>
internal static class ServiceClient
{
    /// <summary>One short connection: connect, send a line, read the answer; returns the backend's name.</summary>
    public static async Task<string> AskOnceAsync(string clientNetns, IPEndPoint vip, TimeSpan? timeout = null)
    {
        using var socket = await NetnsSockets.ConnectTcpAsync(clientNetns, vip, timeout);
        return await AskAsync(socket, "who", timeout);
    }

    /// <summary>Sends <paramref name="line"/> on an open connection; returns the name of the backend that answered.</summary>
    public static async Task<string> AskAsync(Socket socket, string line, TimeSpan? timeout = null)
    {
        var answer = await NetnsSockets.SendLineAndReadEchoAsync(socket, line, timeout);
        var separator = answer.IndexOf(NamedBackendServer.Separator, StringComparison.Ordinal);
        if (separator < 0 || answer[(separator + NamedBackendServer.Separator.Length)..] != line)
            throw new InvalidOperationException($"unexpected answer '{answer}' to '{line}'");
        return answer[..separator];
    }

    /// <summary>Asks the backend behind an open connection which client address it sees; returns its name and that address.</summary>
    public static async Task<(string Backend, IPEndPoint Peer)> AskPeerAsync(Socket socket, TimeSpan? timeout = null)
    {
        var answer = await NetnsSockets.SendLineAndReadEchoAsync(socket, NamedBackendServer.PeerQuestion, timeout);
        var separator = answer.IndexOf(NamedBackendServer.Separator, StringComparison.Ordinal);
        if (separator < 0 || !IPEndPoint.TryParse(answer[(separator + NamedBackendServer.Separator.Length)..], out var peer))
            throw new InvalidOperationException($"unexpected answer '{answer}' to '{NamedBackendServer.PeerQuestion}'");
        return (answer[..separator], peer);
    }

    /// <summary><paramref name="count"/> short connections in sequence; how many each backend answered.</summary>
    public static async Task<IReadOnlyDictionary<string, int>> TallyAsync(string clientNetns, IPEndPoint vip, int count)
    {
        var tally = new SortedDictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var name = await AskOnceAsync(clientNetns, vip, TimeSpan.FromSeconds(3));
            tally[name] = tally.GetValueOrDefault(name) + 1;
        }
        return tally;
    }

    /// <summary>How a connection attempt ended, and how long it took to end.</summary>
    public sealed record ConnectOutcome(SocketError? Error, bool TimedOut, TimeSpan Elapsed)
    {
        public bool Connected => Error is null && !TimedOut;

        public override string ToString() =>
            Connected ? $"connected in {Elapsed.TotalMilliseconds:0} ms"
            : TimedOut ? $"no answer within {Elapsed.TotalMilliseconds:0} ms"
            : $"{Error} after {Elapsed.TotalMilliseconds:0} ms";
    }

    /// <summary>Tries to connect and closes again; never throws for network errors.</summary>
    public static async Task<ConnectOutcome> TryConnectAsync(string clientNetns, IPEndPoint vip, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            using var socket = await NetnsSockets.ConnectTcpAsync(clientNetns, vip, timeout);
            return new ConnectOutcome(null, false, clock.Elapsed);
        }
        catch (SocketException e)
        {
            return new ConnectOutcome(e.SocketErrorCode, false, clock.Elapsed);
        }
        catch (OperationCanceledException)
        {
            return new ConnectOutcome(null, true, clock.Elapsed);
        }
    }
}
