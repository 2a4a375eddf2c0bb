using System.Collections.Concurrent;
using System.Net.Sockets;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.E2E.Tests;

/// <summary>
/// Restarts under load: while clients keep asking the ClusterIP (short connections, one request each, and
/// long-lived connections asking over and over), the daemon is stopped ten times, alternately with SIGTERM and
/// SIGKILL, and started again. Required: no request fails, and every long-lived connection is answered by the
/// backend it started with. Requests use the backends' line protocol (a request line, an answer naming the
/// backend), the e2e servers' HTTP-like request/response.
/// </summary>
[TestFixture]
public sealed class RestartUnderLoadTests : ProxiedNodeFixture
{
    private const int Restarts = 10;
    private const int LongLived = 4;
    private const int ShortClients = 2;

    [Test]
    public async Task Ten_restarts_with_sigterm_and_sigkill_lose_no_request_and_move_no_connection()
    {
        var failures = new ConcurrentQueue<string>();
        var shortRequests = 0L;
        var longRequests = 0L;
        using var stop = new CancellationTokenSource();

        var connections = new List<(Socket Socket, string Backend)>();
        for (var i = 0; i < LongLived; i++)
        {
            var socket = await NetnsSockets.ConnectTcpAsync(Node.ClientNamespace, Node.Service.Vip);
            connections.Add((socket, await ServiceClient.AskAsync(socket, "hello")));
        }
        try
        {
            var load = new List<Task>();
            for (var c = 0; c < ShortClients; c++)
                load.Add(Task.Run(async () =>
                {
                    while (!stop.IsCancellationRequested)
                    {
                        try
                        {
                            await ServiceClient.AskOnceAsync(Node.ClientNamespace, Node.Service.Vip, TimeSpan.FromSeconds(5));
                            Interlocked.Increment(ref shortRequests);
                        }
                        catch (Exception e) when (e is SocketException or OperationCanceledException or InvalidOperationException or IOException)
                        {
                            failures.Enqueue($"short connection: {e.GetType().Name}: {e.Message}");
                        }
                    }
                }));
            foreach (var (socket, backend) in connections)
                load.Add(Task.Run(async () =>
                {
                    var n = 0;
                    while (!stop.IsCancellationRequested)
                    {
                        try
                        {
                            var answeredBy = await ServiceClient.AskAsync(socket, $"request {n++}", TimeSpan.FromSeconds(5));
                            Interlocked.Increment(ref longRequests);
                            if (answeredBy != backend)
                                failures.Enqueue($"long-lived connection of {backend} answered by {answeredBy}");
                        }
                        catch (Exception e) when (e is SocketException or OperationCanceledException or InvalidOperationException or IOException)
                        {
                            failures.Enqueue($"long-lived connection of {backend}: {e.GetType().Name}: {e.Message}");
                            return; // the connection is gone: one failure is enough
                        }
                        await Task.Delay(20);
                    }
                }));

            for (var restart = 0; restart < Restarts; restart++)
            {
                var daemon = Node.Daemon!;
                var useKill = restart % 2 == 1;
                var requestsBefore = Interlocked.Read(ref shortRequests);
                if (useKill)
                    daemon.Kill(TimeSpan.FromSeconds(10));
                else
                    daemon.Terminate(TimeSpan.FromSeconds(15));
                // Traffic goes on while no daemon runs.
                await Poll.UntilAsync(() => Task.FromResult(Interlocked.Read(ref shortRequests) > requestsBefore + 5 ? (object)true : null), TimeSpan.FromSeconds(5));
                var next = Node.StartDaemon();
                await Node.WaitUntilReadyAsync(next);
                await TestContext.Out.WriteLineAsync($"restart {restart + 1} ({(useKill ? "SIGKILL" : "SIGTERM")}): {shortRequests} short and {longRequests} long-lived requests so far, {failures.Count} failures");
            }
            stop.Cancel();
            await Task.WhenAll(load);
        }
        finally
        {
            stop.Cancel();
            foreach (var (socket, _) in connections)
                socket.Dispose();
        }

        await TestContext.Out.WriteLineAsync($"total: {shortRequests} short connections, {longRequests} requests on {LongLived} long-lived connections");
        Assert.Multiple(() =>
        {
            Assert.That(failures, Is.Empty, "failed requests or moved connections");
            Assert.That(shortRequests, Is.GreaterThan(Restarts * 5), "the load ran throughout");
            Assert.That(longRequests, Is.GreaterThan(Restarts * LongLived), "the long-lived connections were used throughout");
        });
    }
}
