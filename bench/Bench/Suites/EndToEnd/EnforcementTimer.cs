using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ProxyReplacement.Dataplane.Netns;

namespace ProxyReplacement.Bench.Suites.EndToEnd;

/// <summary>
/// How long a policy change takes to be enforced, seen from the traffic: while the change is made (a manifest file
/// replaced), a new TCP connection attempt starts every <see cref="Period"/> from the client namespace, each from a
/// source port of its own (never one a remembered flow could carry) and given <see cref="AttemptTimeout"/> to connect.
/// The change is enforced from the first attempt of the final streak of attempts with the new outcome (at least
/// <see cref="Streak"/> of them, none with the old outcome after); the moment it called connect(), minus the moment the
/// write returned, is the figure. Resolution: one period (the last attempt with the old outcome started at most that
/// much earlier).
/// </summary>
public static class EnforcementTimer
{
    public static readonly TimeSpan Period = TimeSpan.FromMilliseconds(5);
    public static readonly TimeSpan AttemptTimeout = TimeSpan.FromMilliseconds(100);
    public const int Streak = 5;

    private const int FirstPort = 10000;
    private const int LastPort = 32000;
    private static int _nextPort = FirstPort;

    /// <summary>
    /// Runs <paramref name="change"/> and returns the time until connections to <paramref name="target"/> became
    /// <paramref name="reachable"/> (false: dropped), at most <paramref name="limit"/>. Before the change, the opposite
    /// must hold for <see cref="Streak"/> attempts in a row, or it throws.
    /// </summary>
    public static async Task<TimeSpan> TimeAsync(string clientNetns, IPEndPoint target, bool reachable, Action change, TimeSpan limit,
        CancellationToken cancellation)
    {
        for (var check = 1; ; check++)
        {
            var before = await Task.WhenAll(Enumerable.Range(0, Streak).Select(_ => AttemptAsync(clientNetns, target)));
            if (before.All(outcome => outcome.Reached != reachable))
                break;
            if (check == 3)
                throw new InvalidOperationException($"before the change, connections to {target} were already {(reachable ? "answered" : "dropped")} " +
                    $"in three checks of {Streak} attempts: nothing to time");
        }

        var attempts = new List<Task<(TimeSpan Connect, bool Reached)>>();
        var clock = Stopwatch.StartNew();
        change();
        var written = clock.Elapsed;
        while (clock.Elapsed - written < limit)
        {
            cancellation.ThrowIfCancellationRequested();
            attempts.Add(AttemptAsync(clientNetns, target, clock));
            await Task.Delay(Period, cancellation);
            if (Settled(attempts, reachable) is null)
                continue;
            // let the attempts still in flight finish: one of them with the old outcome would start the streak again
            await Task.WhenAll(attempts);
            if (Settled(attempts, reachable) is { } first)
                return attempts[first].Result.Connect - written;
        }
        await Task.WhenAll(attempts);
        throw new TimeoutException($"connections to {target} did not become {(reachable ? "answered" : "dropped")} within {limit.TotalSeconds:0} s " +
            $"of the change ({attempts.Count} attempts, {attempts.Count(a => a.Result.Reached == reachable)} with the new outcome)");
    }

    /// <summary>
    /// The index of the first attempt of the final streak with the new outcome, once the completed attempts end with at
    /// least <see cref="Streak"/> of them; null before that.
    /// </summary>
    private static int? Settled(List<Task<(TimeSpan Connect, bool Reached)>> attempts, bool reachable)
    {
        // Only a prefix of finished attempts counts: a later one may finish first (answers are quicker than timeouts).
        var done = 0;
        while (done < attempts.Count && attempts[done].IsCompleted)
            done++;
        var first = done;
        while (first > 0 && attempts[first - 1].Result.Reached == reachable)
            first--;
        return done - first >= Streak ? first : null;
    }

    /// <summary>
    /// One connection attempt from a fresh source port: when (on <paramref name="clock"/>; null: not wanted) it called
    /// connect(), and whether it connected within <see cref="AttemptTimeout"/>.
    /// </summary>
    private static async Task<(TimeSpan Connect, bool Reached)> AttemptAsync(string clientNetns, IPEndPoint target, Stopwatch? clock = null)
    {
        using var socket = NetworkNamespace.Run(clientNetns, () =>
        {
            var created = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            created.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            created.Bind(new IPEndPoint(IPAddress.Any, NextPort()));
            return created;
        });
        using var deadline = new CancellationTokenSource(AttemptTimeout);
        var connect = clock?.Elapsed ?? TimeSpan.Zero;
        try
        {
            await socket.ConnectAsync(target, deadline.Token);
            return (connect, true);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
            return (connect, false);
        }
    }

    /// <summary>Source ports below the kernel's ephemeral range, in turn; after the last one the first comes again (minutes later).</summary>
    private static int NextPort()
    {
        var port = Interlocked.Increment(ref _nextPort);
        return FirstPort + (port - FirstPort) % (LastPort - FirstPort + 1);
    }
}
