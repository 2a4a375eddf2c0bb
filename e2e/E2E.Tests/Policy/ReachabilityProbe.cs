using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ProxyReplacement.Dataplane.Netns;

namespace ProxyReplacement.E2E.Tests.Policy;

/// <summary>How one probe ended.</summary>
internal enum ProbeOutcome
{
    /// <summary>The server answered (TCP: its name and our line; UDP: our datagram back).</summary>
    Answered,

    /// <summary>Nothing came back in time: what a policy drop looks like.</summary>
    TimedOut,

    /// <summary>A TCP reset or an ICMP port unreachable came back: the packet reached a host that does not serve the port.</summary>
    Refused,

    /// <summary>Anything else (a wrong answer, another socket error): never a policy verdict, always reported.</summary>
    Failed,
}

internal sealed record ProbeResult(ProbeOutcome Outcome, string Detail, TimeSpan Elapsed)
{
    public bool Reached => Outcome == ProbeOutcome.Answered;

    public override string ToString() => $"{Outcome.ToString().ToLowerInvariant()} after {Elapsed.TotalMilliseconds:0} ms{(Detail.Length > 0 ? $" ({Detail})" : "")}";
}

/// <summary>One probe: from a client namespace to a server address, port and protocol; <paramref name="ExpectedName"/> is what a TCP server answers with.</summary>
internal sealed record Probe(string ClientNetns, string Client, IPEndPoint Server, string ExpectedName, L4 Protocol)
{
    public override string ToString() => $"{Client} -> {ExpectedName} {Server.Port}/{Protocol.ToString().ToUpperInvariant()}";
}

/// <summary>
/// Runs probes concurrently with short timeouts. Every probe binds its client socket to a source port of its own
/// (<see cref="SourcePorts"/>), never reused in the run, so that no probe can ride on a flow the dataplane's conntrack
/// remembers from an earlier case (a kept established flow would pass a new deny). A TCP probe connects, sends a line
/// and expects the server's name and that line back; a UDP probe sends a datagram on a connected socket and expects it
/// back (a request answered).
/// </summary>
internal static class ReachabilityProbe
{
    /// <summary>Enough for a reachable probe on a busy two-core machine, short enough to keep a table of drops quick.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(1.5);

    public static async Task<IReadOnlyList<ProbeResult>> RunAsync(IReadOnlyList<Probe> probes, TimeSpan timeout)
    {
        // Sockets are made inside their namespace, one thread per client namespace (not per probe), then used from any thread.
        var sockets = new Socket[probes.Count];
        foreach (var group in probes.Select((probe, index) => (probe, index)).GroupBy(p => p.probe.ClientNetns))
            NetworkNamespace.Run(group.Key, () =>
            {
                foreach (var (probe, index) in group)
                    sockets[index] = BoundSocket(probe.Protocol);
            });
        try
        {
            return await Task.WhenAll(probes.Select((probe, index) => RunOneAsync(probe, sockets[index], timeout)));
        }
        finally
        {
            foreach (var socket in sockets)
                socket?.Dispose();
        }
    }

    private static Socket BoundSocket(L4 protocol)
    {
        var socket = protocol == L4.Tcp
            ? new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
            : new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Bind(new IPEndPoint(IPAddress.Any, SourcePorts.Next()));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task<ProbeResult> RunOneAsync(Probe probe, Socket socket, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        using var deadline = new CancellationTokenSource(timeout);
        var line = $"probe {probe}";
        try
        {
            await socket.ConnectAsync(probe.Server, deadline.Token);
            if (probe.Protocol == L4.Tcp)
            {
                await socket.SendAsync(Encoding.UTF8.GetBytes(line + "\n"), SocketFlags.None, deadline.Token);
                var answer = await ReadLineAsync(socket, deadline.Token);
                var expected = $"{probe.ExpectedName}: {line}";
                return answer == expected
                    ? new ProbeResult(ProbeOutcome.Answered, "", clock.Elapsed)
                    : new ProbeResult(ProbeOutcome.Failed, $"answer '{answer}', expected '{expected}'", clock.Elapsed);
            }
            var payload = Encoding.UTF8.GetBytes(line);
            await socket.SendAsync(payload, SocketFlags.None, deadline.Token);
            var buffer = new byte[2048];
            var received = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token);
            return buffer.AsSpan(0, received).SequenceEqual(payload)
                ? new ProbeResult(ProbeOutcome.Answered, "", clock.Elapsed)
                : new ProbeResult(ProbeOutcome.Failed, $"datagram '{Encoding.UTF8.GetString(buffer, 0, received)}' back", clock.Elapsed);
        }
        catch (OperationCanceledException)
        {
            return new ProbeResult(ProbeOutcome.TimedOut, "", clock.Elapsed);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return new ProbeResult(ProbeOutcome.Refused, "", clock.Elapsed);
        }
        catch (SocketException e)
        {
            return new ProbeResult(ProbeOutcome.Failed, e.SocketErrorCode.ToString(), clock.Elapsed);
        }
    }

    private static async Task<string> ReadLineAsync(Socket socket, CancellationToken cancellation)
    {
        var received = new List<byte>();
        var buffer = new byte[512];
        while (!received.Contains((byte)'\n'))
        {
            var count = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellation);
            if (count == 0)
                break;
            received.AddRange(buffer.AsSpan(0, count));
        }
        return Encoding.UTF8.GetString(received.ToArray()).TrimEnd('\n');
    }
}

/// <summary>
/// Client source ports, each handed out once per test run: below the kernel's ephemeral range (32768 and up) so that no
/// connection the kernel numbers itself can take one.
/// </summary>
internal static class SourcePorts
{
    private const int First = 10000;
    private const int Last = 32000;
    private static int _next = First - 1;

    public static int Next()
    {
        var port = Interlocked.Increment(ref _next);
        if (port > Last)
            throw new InvalidOperationException($"all {Last - First + 1} probe source ports are used: too many probes for one test run");
        return port;
    }
}
