using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi;

/// <summary>
/// An in-process Kubernetes API server (Kestrel) for Services, EndpointSlices, Nodes, Pods, Namespaces and NetworkPolicies over the
/// <see cref="FakeApiStore"/>: paginated list (<c>limit</c>/<c>continue</c>, <c>labelSelector</c>) and
/// watch (<c>resourceVersion</c>, <c>timeoutSeconds</c>, <c>allowWatchBookmarks</c>), optional TLS, bearer
/// token and client-certificate checks, injected faults, an outage switch (<see cref="Down"/>) and a log
/// of every request. Listens on 127.0.0.1 (port 0) or on a socket handed over (<c>ListenHandle</c>, for a
/// socket made inside a network namespace).
/// </summary>
public sealed class FakeApiServer : IAsyncDisposable
{
    private static readonly Dictionary<string, string> ResourceByPath = new(StringComparer.Ordinal)
    {
        ["/api/v1/services"] = FakeApiStore.Services,
        ["/apis/discovery.k8s.io/v1/endpointslices"] = FakeApiStore.EndpointSlices,
        ["/api/v1/nodes"] = FakeApiStore.Nodes,
        ["/api/v1/pods"] = FakeApiStore.Pods,
        ["/api/v1/namespaces"] = FakeApiStore.Namespaces,
        ["/apis/networking.k8s.io/v1/networkpolicies"] = FakeApiStore.NetworkPolicies,
    };

    private readonly WebApplication _app;
    private readonly TestCertificates? _certificates;
    private readonly List<(string Resource, ApiVerb Verb, Fault Fault)> _faults = [];
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private volatile CancellationTokenSource _outage = new();
    private volatile bool _down;
    private volatile string? _requiredToken;
    private long _firstRequest;

    private FakeApiServer(WebApplication app, FakeApiStore store, TestCertificates? certificates)
    {
        _app = app;
        Store = store;
        _certificates = certificates;
    }

    public FakeApiStore Store { get; }

    /// <summary>The server's URL (https when started with certificates).</summary>
    public Uri Url { get; private set; } = null!;

    /// <summary>When set, a request must carry <c>Authorization: Bearer</c> this token, or it gets 401.</summary>
    public string? RequiredToken
    {
        get => _requiredToken;
        set => _requiredToken = value;
    }

    /// <summary>When set (TLS only), a request must present a client certificate issued by the test CA, or it gets 401.</summary>
    public bool RequireClientCertificate { get; set; }

    /// <summary>
    /// A watch from a compacted resourceVersion answers HTTP 410 when true; by default it answers 200 and an
    /// ERROR event with code 410, as a real API server does.
    /// </summary>
    public bool GoneAsHttpStatus { get; set; }

    /// <summary>Serves every object whatever the label selector says (a server that does not filter), so client-side filtering is tested.</summary>
    public bool IgnoreLabelSelector { get; set; }

    /// <summary>An outage: while true every request and every open watch is cut at the connection.</summary>
    public bool Down
    {
        get => _down;
        set
        {
            _down = value;
            if (value)
            {
                var previous = _outage;
                _outage = new CancellationTokenSource();
                previous.Cancel();
                previous.Dispose();
            }
        }
    }

    public IReadOnlyList<RecordedRequest> Requests => _requests.ToArray();

    /// <summary>When the first request arrived (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>), 0 before any: the benchmark's start of a cold sync.</summary>
    public long FirstRequestTimestamp => Interlocked.Read(ref _firstRequest);

    public IEnumerable<RecordedRequest> RequestsFor(string resource, ApiVerb verb) => Requests.Where(r => r.Resource == resource && r.Verb == verb);

    /// <summary>
    /// Starts on 127.0.0.1 with a free port (or <paramref name="port"/>), or on <paramref name="listenHandle"/>: a bound,
    /// listening socket fd that Kestrel takes over (and closes), bound to 127.0.0.1:<paramref name="port"/>.
    /// </summary>
    public static async Task<FakeApiServer> StartAsync(FakeApiStore? store = null, TestCertificates? certificates = null, ulong? listenHandle = null, int? port = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            void Configure(Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions listen)
            {
                if (certificates is null)
                    return;
                listen.UseHttps(new HttpsConnectionAdapterOptions
                {
                    ServerCertificate = certificates.Server,
                    ClientCertificateMode = ClientCertificateMode.AllowCertificate,
                    ClientCertificateValidation = (_, _, _) => true, // judged per request, so a missing or foreign one gets a 401 body
                });
            }

            if (listenHandle is { } handle)
                kestrel.ListenHandle(handle, Configure);
            else
                kestrel.Listen(IPAddress.Loopback, port ?? 0, Configure);
        });
        var app = builder.Build();
        var server = new FakeApiServer(app, store ?? new FakeApiStore(), certificates);
        app.Run(server.HandleAsync);
        await app.StartAsync();
        var boundPort = listenHandle is not null
            ? port ?? throw new ArgumentException("a handed-over socket needs its port", nameof(port))
            : new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        server.Url = new Uri($"{(certificates is null ? "http" : "https")}://127.0.0.1:{boundPort}");
        return server;
    }

    /// <summary>Makes the next <paramref name="times"/> matching requests fail with <paramref name="fault"/>.</summary>
    public void Inject(string resource, ApiVerb verb, Fault fault, int times = 1)
    {
        lock (_faults)
            for (var i = 0; i < times; i++)
                _faults.Add((resource, verb, fault));
    }

    public void ClearFaults()
    {
        lock (_faults)
            _faults.Clear();
    }

    public int PendingFaults
    {
        get { lock (_faults) return _faults.Count; }
    }

    public async ValueTask DisposeAsync()
    {
        Down = true; // ends open watches, so stopping does not wait for them
        await _app.StopAsync();
        await _app.DisposeAsync();
        _outage.Dispose();
    }

    private async Task HandleAsync(HttpContext context)
    {
        Interlocked.CompareExchange(ref _firstRequest, System.Diagnostics.Stopwatch.GetTimestamp(), 0);
        if (_down)
        {
            context.Abort();
            return;
        }
        var query = context.Request.Query.ToDictionary(pair => pair.Key, pair => pair.Value.ToString());
        if (!ResourceByPath.TryGetValue(context.Request.Path.Value ?? "", out var resource) || context.Request.Method != "GET")
        {
            await WriteStatusAsync(context, 404, "NotFound", $"the server could not find the requested resource {context.Request.Path}");
            return;
        }
        var verb = query.GetValueOrDefault("watch") is "true" or "1" ? ApiVerb.Watch : ApiVerb.List;
        var authorization = context.Request.Headers.Authorization.ToString();
        var clientCertificate = await context.Connection.GetClientCertificateAsync();
        var status = Authorize(authorization, clientCertificate);
        _requests.Enqueue(new RecordedRequest(resource, verb, query, authorization.Length == 0 ? null : authorization, clientCertificate?.Subject, status));
        if (status != 200)
        {
            await WriteStatusAsync(context, 401, "Unauthorized", "Unauthorized");
            return;
        }

        var fault = TakeFault(resource, verb, query.ContainsKey("continue"));
        switch (fault)
        {
            case Fault.Slow slow:
                try
                {
                    await Task.Delay(slow.Delay, context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                break;
            case Fault.Status error:
                if (error.RetryAfterSeconds is { } seconds)
                    context.Response.Headers.RetryAfter = seconds.ToString();
                await WriteStatusAsync(context, error.Code, error.Code == 429 ? "TooManyRequests" : error.Code == 410 ? "Expired" : "InternalError",
                    $"injected fault {error.Code}");
                return;
            case Fault.ExpireContinue:
                await WriteStatusAsync(context, 410, "Expired", "The provided continue parameter is too old to display a consistent list result.");
                return;
        }

        var selector = IgnoreLabelSelector ? LabelSelector.Everything : new LabelSelector(query.GetValueOrDefault("labelSelector"));
        if (verb == ApiVerb.List)
            await ListAsync(context, resource, selector, query);
        else
            await WatchAsync(context, resource, selector, query, fault);
    }

    private int Authorize(string authorization, System.Security.Cryptography.X509Certificates.X509Certificate2? clientCertificate)
    {
        if (_requiredToken is { } token && authorization != $"Bearer {token}")
            return 401;
        if (RequireClientCertificate && (clientCertificate is null || _certificates is null || !_certificates.Issued(clientCertificate)))
            return 401;
        return 200;
    }

    private Fault? TakeFault(string resource, ApiVerb verb, bool hasContinue)
    {
        lock (_faults)
        {
            var index = _faults.FindIndex(f => f.Resource == resource && f.Verb == verb && (f.Fault is not Fault.ExpireContinue || hasContinue));
            if (index < 0)
                return null;
            var fault = _faults[index].Fault;
            _faults.RemoveAt(index);
            return fault;
        }
    }

    private async Task ListAsync(HttpContext context, string resource, LabelSelector selector, Dictionary<string, string> query)
    {
        var limit = int.TryParse(query.GetValueOrDefault("limit"), out var value) ? value : 0;
        (long Version, List<JsonObject> Items, string? Continue) page;
        try
        {
            page = Store.List(resource, selector, limit, query.GetValueOrDefault("continue"));
        }
        catch (GoneException gone)
        {
            await WriteStatusAsync(context, 410, "Expired", gone.Message);
            return;
        }
        var metadata = new JsonObject { ["resourceVersion"] = page.Version.ToString() };
        if (page.Continue is not null)
            metadata["continue"] = page.Continue;
        var list = new JsonObject
        {
            ["kind"] = FakeApiStore.KindOf(resource) + "List",
            ["apiVersion"] = resource == FakeApiStore.EndpointSlices ? "discovery.k8s.io/v1" : "v1",
            ["metadata"] = metadata,
            ["items"] = new JsonArray(page.Items.Select(item => (JsonNode)item).ToArray()),
        };
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(list.ToJsonString());
    }

    private async Task WatchAsync(HttpContext context, string resource, LabelSelector selector, Dictionary<string, string> query, Fault? fault)
    {
        var from = long.TryParse(query.GetValueOrDefault("resourceVersion"), out var version) ? version : Store.ResourceVersion;
        var timeout = TimeSpan.FromSeconds(int.TryParse(query.GetValueOrDefault("timeoutSeconds"), out var seconds) ? seconds : 1800);
        var watcher = Store.Watch(resource, from, selector, query.GetValueOrDefault("allowWatchBookmarks") == "true");
        if (watcher is null && GoneAsHttpStatus)
        {
            await WriteStatusAsync(context, 410, "Expired", $"too old resource version: {from} ({Store.ResourceVersion})");
            return;
        }

        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        await context.Response.StartAsync();
        await context.Response.Body.FlushAsync(); // the headers go out now, as a real API server sends them, before any event
        var gone = watcher is null ? 410 : fault is Fault.ErrorEvent errorEvent ? errorEvent.Code : (int?)null;
        if (gone is { } code)
        {
            if (watcher is not null)
                Store.Unsubscribe(watcher);
            var status = StatusJson(code, code == 410 ? "Expired" : "InternalError", code == 410 ? $"too old resource version: {from} ({Store.ResourceVersion})" : "injected watch error");
            await WriteLineAsync(context, FakeApiStore.Event("ERROR", status), CancellationToken.None);
            return;
        }

        var outage = _outage.Token;
        using var end = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, outage);
        end.CancelAfter(timeout);
        var sent = 0;
        try
        {
            await foreach (var line in watcher!.Queue.Reader.ReadAllAsync(end.Token))
            {
                if (fault is Fault.DropMidEvent drop && sent == drop.AfterEvents)
                {
                    var bytes = Encoding.UTF8.GetBytes(line);
                    await context.Response.Body.WriteAsync(bytes.AsMemory(0, bytes.Length / 2), CancellationToken.None);
                    await context.Response.Body.FlushAsync(CancellationToken.None);
                    context.Abort();
                    return;
                }
                await WriteLineAsync(context, line, end.Token);
                sent++;
            }
        }
        catch (OperationCanceledException)
        {
            if (outage.IsCancellationRequested)
                context.Abort();
            // else: timeoutSeconds reached or the client left: end the stream normally
        }
        finally
        {
            Store.Unsubscribe(watcher!);
        }
    }

    private static async Task WriteLineAsync(HttpContext context, string line, CancellationToken cancellationToken)
    {
        await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(line + "\n"), cancellationToken);
        await context.Response.Body.FlushAsync(cancellationToken);
    }

    private static JsonObject StatusJson(int code, string reason, string message) => new()
    {
        ["kind"] = "Status",
        ["apiVersion"] = "v1",
        ["metadata"] = new JsonObject(),
        ["status"] = "Failure",
        ["message"] = message,
        ["reason"] = reason,
        ["code"] = code,
    };

    private static async Task WriteStatusAsync(HttpContext context, int code, string reason, string message)
    {
        context.Response.StatusCode = code;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(StatusJson(code, reason, message).ToJsonString());
    }
}
