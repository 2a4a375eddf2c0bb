using ProxyReplacement.ServiceProxy.Kubernetes.Watching;
using ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi;
using ProxyReplacement.ServiceProxy.Tests.Support;
using static ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi.FakeApiStore;

namespace ProxyReplacement.ServiceProxy.Tests.Kubernetes;

/// <summary>
/// Reconnecting after an API outage, on the production backoff settings and a fake clock: the reflectors'
/// backoff delays (Polly) run on the <see cref="FakeTimeProvider"/>, which the test moves from one armed
/// delay to the next, so "20 s down" and "within 5 s of the return" are clock readings, not sleeps. The
/// server cuts every connection while down (a refused or reset connection fails at once).
/// </summary>
[NonParallelizable]
public sealed class ReconnectTests
{
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Target = TimeSpan.FromSeconds(5);

    [Test]
    public async Task After_a_20_s_outage_a_change_reaches_the_maps_within_5_s_of_the_api_return_with_the_backoff_capped_and_reset()
    {
        await using var server = await FakeApiServer.StartAsync();
        server.Store.Put(Nodes, ApiJson.Node("node-a", "192.168.0.10"));
        server.Store.Put(Services, ApiJson.Service("apps", "web", "10.96.0.1"));
        server.Store.Put(EndpointSlices, ApiJson.EndpointSlice("apps", "web-abc12", "web", 8080, ["10.244.1.1"]));
        var settings = new ReflectorSettings(); // the daemon's defaults
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 6, 0, 0, 0, TimeSpan.Zero));
        await using var source = await ApiSourceUnderTest.CreateAsync(server, settings: settings, time: time);
        await source.StartAndSyncAsync();
        await source.UntilAsync(() => server.Store.OpenWatches(Services) == 1 && server.Store.OpenWatches(EndpointSlices) == 1 && server.Store.OpenWatches(Nodes) == 1,
            "every resource is watched");

        server.Down = true;
        var downAt = time.GetUtcNow();
        var longest = TimeSpan.Zero;
        while (time.GetUtcNow() - downAt < Outage)
        {
            // every reflector has failed and waits for its next attempt: move the clock to the earliest one
            await source.UntilAsync(() => time.ArmedTimers().Count == 3, "all three reflectors back off");
            var armed = time.ArmedTimers();
            longest = armed.Select(due => due - time.GetUtcNow()).Append(longest).Max();
            var left = Outage - (time.GetUtcNow() - downAt);
            time.Advance(armed[0] - time.GetUtcNow() < left ? armed[0] - time.GetUtcNow() : left);
        }
        Assert.That(source.Health.Source.Degraded, Is.True, "degraded during the outage");

        server.Down = false;
        var backAt = time.GetUtcNow();
        server.Store.Put(EndpointSlices, ApiJson.EndpointSlice("apps", "web-abc12", "web", 8080, ["10.244.1.1", "10.244.1.2"]));
        const string expected = "10.96.0.1:80/tcp -> 10.244.1.1:8080,10.244.1.2:8080";
        var logsBefore = source.Logs.Lines.Count;
        await AdvanceUntilAsync(source, time, () => source.Served().SequenceEqual([expected]), backAt + Target, "the change is served");
        var took = time.GetUtcNow() - backAt;
        await AdvanceUntilAsync(source, time, () => !source.Health.Source.Degraded, backAt + settings.MaxBackoff + TimeSpan.FromSeconds(1),
            "every resource works again (healthy)");

        // After a success the backoff starts over: the next failure's first retry is attempt 1.
        server.Inject(Services, ApiVerb.Watch, new Fault.Status(500));
        server.Store.EndWatches();
        await AdvanceUntilAsync(source, time, () => source.Logs.Lines.Skip(logsBefore).Any(line => line.Contains("services: ") && line.Contains("retrying in")),
            time.GetUtcNow() + TimeSpan.FromMinutes(1), "the new failure is retried");
        var retry = source.Logs.Lines.Skip(logsBefore).Last(line => line.Contains("services: ") && line.Contains("retrying in"));

        await TestContext.Out.WriteLineAsync($"served {took.TotalSeconds:F2} s (fake clock) after the API's return; longest backoff {longest.TotalSeconds:F2} s; {retry}");
        Assert.Multiple(() =>
        {
            Assert.That(longest, Is.LessThanOrEqualTo(settings.MaxBackoff), "the backoff is capped");
            Assert.That(longest, Is.GreaterThan(settings.InitialBackoff), "and it did grow during the outage");
            Assert.That(took, Is.LessThanOrEqualTo(Target));
            Assert.That(retry, Does.Contain("(attempt 1)"), "reset on success");
            Assert.That(source.Maps.Violations, Is.Empty);
        });
    }

    /// <summary>
    /// Until <paramref name="condition"/> holds: let the code run (real time, bounded) until it holds or something waits on the
    /// fake clock, then move the clock to the earliest armed timer. Fails if that would pass <paramref name="deadline"/>.
    /// </summary>
    private static async Task AdvanceUntilAsync(ApiSourceUnderTest source, FakeTimeProvider time, Func<bool> condition, DateTimeOffset deadline, string what)
    {
        while (true)
        {
            await source.UntilAsync(() => condition() || time.ArmedTimers().Count > 0, what);
            await Task.Delay(20); // let requests in flight finish before choosing the next timer
            if (condition())
                return;
            if (time.ArmedTimers() is not [var next, ..])
                continue;
            Assert.That(next, Is.LessThanOrEqualTo(deadline), $"{what}: not by {deadline:HH:mm:ss.fff} on the fake clock");
            time.Advance(next - time.GetUtcNow());
        }
    }
}
