using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Kubernetes;
using ProxyReplacement.ServiceProxy.Kubernetes.Api;
using ProxyReplacement.ServiceProxy.Kubernetes.Config;
using ProxyReplacement.ServiceProxy.Kubernetes.Watching;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi;
using ProxyReplacement.ServiceProxy.Tests.Support;
using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.ServiceProxy.Tests.Kubernetes;

/// <summary>
/// The whole control path against the fake API server: <see cref="KubernetesSource"/> over a real
/// <see cref="KubernetesApiClient"/> (KubernetesClient underneath), the <see cref="ChangeTracker"/>, and the real <see cref="Syncer"/>
/// writing observed in-memory maps (<see cref="NatMapsUnderTest"/>: every write logged, make-before-break
/// checked). Each change the source reports is synced at once, like the daemon's runner without its
/// rate limit. Retries are fast (a few ms) and list pages small (2 items), so paging and backoff run in
/// every test. Dispose stops everything.
/// </summary>
internal sealed class ApiSourceUnderTest : IAsyncDisposable
{
    public static readonly ReflectorSettings FastRetries = new()
    {
        PageSize = 2,
        InitialBackoff = TimeSpan.FromMilliseconds(5),
        MaxBackoff = TimeSpan.FromMilliseconds(40),
        MaxRetryAfter = TimeSpan.FromSeconds(5),
    };

    private static readonly TimeSpan ConvergenceLimit = TimeSpan.FromSeconds(15);

    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _syncGate = new();
    private readonly ChangeTracker _tracker = new();
    private readonly Syncer _syncer;
    private readonly ILoggerFactory _loggers;
    private Task? _running;

    private ApiSourceUnderTest(FakeApiServer server, KubernetesApiClient client, ReflectorSettings settings, string? serviceProxyName, string nodeName, TimeProvider? time,
        bool networkPolicy)
    {
        Server = server;
        Client = client;
        Logs = new CollectingLoggerProvider();
        _loggers = LoggerFactory.Create(builder => builder.AddProvider(Logs).SetMinimumLevel(LogLevel.Debug));
        Health = new HealthState(TimeProvider.System, TimeSpan.FromSeconds(30));
        Source = new KubernetesSource(client, new KubernetesSourceSettings
        {
            Server = server.Url.ToString(),
            NodeName = nodeName,
            ServiceProxyName = serviceProxyName,
            NetworkPolicy = networkPolicy,
            Reflector = settings,
        }, _loggers, Metrics, Health, time);
        _syncer = new Syncer(Maps.Frontends, Maps.Backends);
    }

    public FakeApiServer Server { get; }
    public FakeApiStore Store => Server.Store;
    public KubernetesApiClient Client { get; }
    public KubernetesSource Source { get; }
    public ProxyMetrics Metrics { get; } = new();
    public KubernetesMetrics Kubernetes => Metrics.Kubernetes;
    public HealthState Health { get; }
    public NatMapsUnderTest Maps { get; } = new();
    public CollectingLoggerProvider Logs { get; }

    /// <summary>Syncs done so far.</summary>
    public int Syncs { get; private set; }

    /// <summary>The connection a test points the client at the fake server with (token "test-token" unless changed).</summary>
    public static ClusterConnection ConnectionTo(FakeApiServer server, k8s.Authentication.ITokenProvider? token = null, TestCertificates? certificates = null) =>
        new(new k8s.KubernetesClientConfiguration
        {
            Host = server.Url.ToString(),
            AccessToken = token is null ? "test-token" : null,
            TokenProvider = token,
            SslCaCerts = certificates is null ? null : new System.Security.Cryptography.X509Certificates.X509Certificate2Collection(certificates.Ca),
        }, "test");

    public static async Task<ApiSourceUnderTest> CreateAsync(FakeApiServer server, ClusterConnection? connection = null,
        ReflectorSettings? settings = null, string? serviceProxyName = null, TimeSpan? requestTimeout = null, string nodeName = "node-a",
        TimeProvider? time = null, bool networkPolicy = false)
    {
        await Task.CompletedTask;
        var client = new KubernetesApiClient(connection ?? ConnectionTo(server), requestTimeout ?? TimeSpan.FromSeconds(5));
        return new ApiSourceUnderTest(server, client, settings ?? FastRetries, serviceProxyName, nodeName, time, networkPolicy);
    }

    public void Start() => _running = Task.Run(() => Source.RunAsync(_tracker, SyncNow, _stop.Token));

    /// <summary>Starts and waits for the first complete sync.</summary>
    public async Task StartAndSyncAsync()
    {
        Start();
        await UntilAsync(() => Source.Synced && Syncs > 0, "the source synced and the maps were written");
    }

    /// <summary>The maps as Services: <c>VIP:port/proto -> backend, backend</c> (sorted), independent of ids and ordinals.</summary>
    public IReadOnlyList<string> Served()
    {
        lock (_syncGate)
        {
            var backends = Maps.Backends.Inner.ReadAll().ToDictionary(pair => pair.Key, pair => pair.Value);
            return Maps.Frontends.Inner.ReadAll()
                .Select(pair =>
                {
                    var addresses = Enumerable.Range(0, (int)pair.Value.BackendCount)
                        .Select(ordinal => backends.TryGetValue(new(pair.Value.ServiceId, (uint)ordinal), out var backend) ? backend.ToString() : "MISSING")
                        .Order(StringComparer.Ordinal);
                    return $"{pair.Key} -> {string.Join(",", addresses)}";
                })
                .Order(StringComparer.Ordinal)
                .ToList();
        }
    }

    /// <summary>The write log since the last <see cref="ClearWriteLog"/> (taken under the sync lock).</summary>
    public IReadOnlyList<string> WriteLog()
    {
        lock (_syncGate) return Maps.WriteLog.ToList();
    }

    public void ClearWriteLog()
    {
        lock (_syncGate) Maps.ClearLog();
    }

    /// <summary>Waits until the maps serve exactly <paramref name="expected"/>; fails with what they serve instead.</summary>
    public Task UntilServedAsync(params string[] expected) =>
        UntilAsync(() => Served().SequenceEqual(expected.Order(StringComparer.Ordinal)),
            () => $"the maps serve [{string.Join("; ", expected)}] but they serve [{string.Join("; ", Served())}]");

    public Task UntilAsync(Func<bool> condition, string what) => UntilAsync(condition, () => what);

    /// <summary>Polls <paramref name="condition"/> (a generous deadline: convergence, not speed, is under test).</summary>
    public async Task UntilAsync(Func<bool> condition, Func<string> what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > ConvergenceLimit)
                Assert.Fail($"not within {ConvergenceLimit.TotalSeconds:0} s: {what()}\n--- log:\n{string.Join("\n", Logs.Lines)}");
            if (_running is { IsFaulted: true } failed)
                Assert.Fail($"the source crashed: {failed.Exception}");
            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_running is not null)
        {
            try
            {
                await _running.WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (OperationCanceledException)
            {
                // stopped
            }
        }
        Client.Dispose();
        _loggers.Dispose();
        _stop.Dispose();
    }

    private void SyncNow()
    {
        lock (_syncGate)
        {
            if (!Source.Synced)
                return;
            var commit = _tracker.Commit();
            _syncer.Sync(commit.Snapshot, fullResync: false);
            Syncs++;
        }
    }
}

/// <summary>Keeps every log line (level, category and message) for assertions and failure output.</summary>
internal sealed class CollectingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyList<string> Lines => _lines.ToArray();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CollectingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._lines.Enqueue($"{logLevel} {category.Split('.')[^1]}: {formatter(state, exception)}");
    }
}
