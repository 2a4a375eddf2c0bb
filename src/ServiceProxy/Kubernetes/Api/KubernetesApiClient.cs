using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using ProxyReplacement.ServiceProxy.Kubernetes.Config;
using ProxyReplacement.ServiceProxy.Kubernetes.Objects;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Api;

/// <summary>
/// <see cref="IKubernetesApi"/> over KubernetesClient: the package's <see cref="k8s.Kubernetes"/> client makes
/// the connection (TLS with the configured CA or insecure, the client certificate, HTTP proxy settings) and
/// authenticates each request (token, token file, exec or auth-provider plugin: <c>Credentials</c>); items
/// are decoded one by one as the package's models (<see cref="ApiResource{T}.Decode"/>), so one undecodable
/// object is reported with its field path while the rest of the page or stream is used. The list and watch
/// loop is ours, not the package's generated operations: those decode a whole page at once (one bad object
/// fails the page) and open a watch only once its first event arrived (a quiet watch would look hung).
/// Each request has <see cref="RequestTimeout"/> to answer (a list: to finish); a watch must end by its own
/// <c>timeoutSeconds</c> plus that margin, which catches a connection that died silently. A 401 with a
/// re-readable token (<see cref="FileTokenProvider"/>) re-reads it and retries once at once.
/// Every request is counted by <see cref="RestClientMetricsHandler"/> (<c>rest_client_*</c>).
/// </summary>
public sealed class KubernetesApiClient : IKubernetesApi, IDisposable
{
    private const int MaxErrorBodyBytes = 64 * 1024;

    private readonly ClusterConnection _connection;
    private readonly k8s.Kubernetes _client;

    public KubernetesApiClient(ClusterConnection connection, TimeSpan requestTimeout, TimeProvider? time = null)
    {
        _connection = connection;
        RequestTimeout = requestTimeout;
        var configuration = connection.Configuration;
        var setup = configuration.FirstMessageHandlerSetup;
        configuration.FirstMessageHandlerSetup = handler =>
        {
            handler.ConnectTimeout = requestTimeout;
            // A watch is one long response; new connections pick up DNS and server changes.
            handler.PooledConnectionLifetime = TimeSpan.FromMinutes(10);
            handler.AutomaticDecompression = DecompressionMethods.All;
            setup?.Invoke(handler);
        };
        _client = new k8s.Kubernetes(configuration, new RestClientMetricsHandler(time));
    }

    public TimeSpan RequestTimeout { get; }

    public async Task<ListPage<T>> ListAsync<T>(ApiResource<T> resource, ListRequest request, CancellationToken cancellationToken)
        where T : class, IKubernetesObject
    {
        var uri = Uri(resource, Query(("labelSelector", request.LabelSelector),
            ("limit", request.Limit > 0 ? request.Limit.ToString(CultureInfo.InvariantCulture) : null), ("continue", request.Continue)));
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(RequestTimeout);
        var what = $"list {resource}";
        try
        {
            using var response = await SendAsync(uri, what, deadline.Token).ConfigureAwait(false);
            await using var body = await response.Content.ReadAsStreamAsync(deadline.Token).ConfigureAwait(false);
            var list = await JsonSerializer.DeserializeAsync(body, KubernetesJson.Default.ListObject, deadline.Token).ConfigureAwait(false)
                       ?? throw new KubernetesApiException(ApiFailure.Protocol, $"{what}: the response is empty");
            var resourceVersion = list.Metadata?.ResourceVersion;
            if (string.IsNullOrEmpty(resourceVersion))
                throw new KubernetesApiException(ApiFailure.Protocol, $"{what}: the response has no metadata.resourceVersion");
            var items = (list.Items ?? []).Select(resource.Decode).ToList();
            return new ListPage<T>(resourceVersion, string.IsNullOrEmpty(list.Metadata?.Continue) ? null : list.Metadata.Continue, items);
        }
        catch (Exception error) when (Translate(error, what, cancellationToken) is { } translated)
        {
            throw translated;
        }
    }

    public async Task<IWatchStream<T>> WatchAsync<T>(ApiResource<T> resource, WatchRequest request, CancellationToken cancellationToken)
        where T : class, IKubernetesObject
    {
        var uri = Uri(resource, Query(("watch", "true"), ("resourceVersion", request.ResourceVersion),
            ("allowWatchBookmarks", request.AllowBookmarks ? "true" : null),
            ("timeoutSeconds", request.TimeoutSeconds.ToString(CultureInfo.InvariantCulture)), ("labelSelector", request.LabelSelector)));
        var what = $"watch {resource} from resourceVersion {request.ResourceVersion}";
        var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(RequestTimeout);
        HttpResponseMessage? response = null;
        try
        {
            response = await SendAsync(uri, what, deadline.Token).ConfigureAwait(false);
            var body = await response.Content.ReadAsStreamAsync(deadline.Token).ConfigureAwait(false);
            // From here the server ends the stream after timeoutSeconds; past that plus a margin it is dead.
            deadline.CancelAfter(TimeSpan.FromSeconds(request.TimeoutSeconds) + RequestTimeout);
            return new WatchStream<T>(resource, what, response, body, deadline);
        }
        catch (Exception error) when (Translate(error, what, cancellationToken) is { } translated)
        {
            response?.Dispose();
            deadline.Dispose();
            throw translated;
        }
    }

    public void Dispose() => _client.Dispose();

    private async Task<HttpResponseMessage> SendAsync(Uri uri, string what, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            request.Headers.UserAgent.Add(new ProductInfoHeaderValue("proxy-replacement", "1.0"));
            await AuthenticateAsync(request, what, cancellationToken).ConfigureAwait(false);
            if (_connection.Configuration.TlsServerName is { Length: > 0 } serverName)
                request.Headers.Host = serverName; // as the package does: SocketsHttpHandler takes the TLS name from Host
            var response = await _client.HttpClient.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
                return response;
            using (response)
            {
                if (response.StatusCode == HttpStatusCode.Unauthorized && attempt == 0 && _connection.Configuration.TokenProvider is FileTokenProvider token)
                {
                    token.Refresh();
                    continue;
                }
                throw await ErrorAsync(response, what, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The package's credentials (a token, a token provider: file, exec or auth-provider plugin) on one request.</summary>
    private async Task AuthenticateAsync(HttpRequestMessage request, string what, CancellationToken cancellationToken)
    {
        if (_client.Credentials is not { } credentials)
            return;
        try
        {
            await credentials.ProcessHttpRequestAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (error is not OperationCanceledException && error is not OutOfMemoryException)
        {
            // an exec plugin that failed or timed out, an OIDC refresh that was refused, an unreadable token file
            throw new KubernetesApiException(ApiFailure.Credentials, $"{what}: no credentials: {Flatten(error)}", inner: error);
        }
    }

    private static async Task<KubernetesApiException> ErrorAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        var code = (int)response.StatusCode;
        StatusObject? status = null;
        try
        {
            var bytes = await ReadLimitedAsync(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            status = JsonSerializer.Deserialize(bytes, KubernetesJson.Default.StatusObject);
        }
        catch (Exception error) when (error is JsonException or IOException or HttpRequestException)
        {
            // not a Status body: the HTTP status alone says enough
        }
        var retryAfter = response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date - DateTimeOffset.UtcNow,
            _ => status?.Details?.RetryAfterSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : (TimeSpan?)null,
        };
        if (retryAfter < TimeSpan.Zero)
            retryAfter = TimeSpan.Zero;
        var detail = status?.Message is { Length: > 0 } message ? $": {message}" : "";
        var reason = status?.Reason is { Length: > 0 } r ? r : response.ReasonPhrase;
        return new KubernetesApiException(ApiFailure.Status, $"{what}: HTTP {code} {reason}{detail}", code, status, retryAfter);
    }

    private static async Task<byte[]> ReadLimitedAsync(Stream stream, CancellationToken cancellationToken)
    {
        await using (stream)
        {
            var buffer = new MemoryStream();
            var chunk = new byte[8192];
            int read;
            while (buffer.Length < MaxErrorBodyBytes && (read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
                buffer.Write(chunk, 0, read);
            return buffer.ToArray();
        }
    }

    /// <summary>The <see cref="KubernetesApiException"/> for a failure of the call, or null to let it pass (the caller cancelled; already translated).</summary>
    internal static KubernetesApiException? Translate(Exception error, string what, CancellationToken callerToken) => error switch
    {
        KubernetesApiException => null,
        OperationCanceledException when callerToken.IsCancellationRequested => null,
        OperationCanceledException => new KubernetesApiException(ApiFailure.Timeout, $"{what}: no answer in time", inner: error),
        HttpRequestException http when http.InnerException is KubernetesApiException => null,
        HttpRequestException or IOException => new KubernetesApiException(ApiFailure.Connection, $"{what}: {Flatten(error)}", inner: error),
        JsonException json => new KubernetesApiException(ApiFailure.Protocol, $"{what}: malformed JSON: {json.Message}", inner: error),
        _ => null,
    };

    private static string Flatten(Exception error)
    {
        var text = new StringBuilder(error.Message);
        for (var inner = error.InnerException; inner is not null; inner = inner.InnerException)
            if (!text.ToString().Contains(inner.Message, StringComparison.Ordinal))
                text.Append(" (").Append(inner.Message).Append(')');
        return text.ToString();
    }

    private Uri Uri<T>(ApiResource<T> resource, string query) where T : class, IKubernetesObject
    {
        var server = _client.BaseUri;
        var basePath = server.AbsolutePath.TrimEnd('/');
        var builder = new UriBuilder(server) { Path = $"{basePath}/{resource.Path}", Query = query };
        return builder.Uri;
    }

    private static string Query(params (string Name, string? Value)[] parameters) =>
        string.Join('&', parameters.Where(p => !string.IsNullOrEmpty(p.Value)).Select(p => $"{p.Name}={System.Uri.EscapeDataString(p.Value!)}"));

    /// <summary>A watch response read event by event (newline-delimited JSON values) as the bytes arrive.</summary>
    private sealed class WatchStream<T>(ApiResource<T> resource, string what, HttpResponseMessage response, Stream body, CancellationTokenSource deadline)
        : IWatchStream<T> where T : class, IKubernetesObject
    {
        public async IAsyncEnumerable<WatchEvent<T>> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken)
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
            var events = JsonSerializer.DeserializeAsyncEnumerable(body, KubernetesJson.Default.WatchEventObject, topLevelValues: true, linked.Token)
                .GetAsyncEnumerator(linked.Token);
            try
            {
                while (true)
                {
                    WatchEventObject? raw;
                    try
                    {
                        if (!await events.MoveNextAsync().ConfigureAwait(false))
                            yield break;
                        raw = events.Current;
                    }
                    catch (OperationCanceledException error) when (!cancellationToken.IsCancellationRequested)
                    {
                        throw new KubernetesApiException(ApiFailure.Timeout, $"{what}: the stream outlived its timeout; the connection is presumed dead", inner: error);
                    }
                    catch (Exception error) when (Translate(error, what, cancellationToken) is { } translated)
                    {
                        throw translated;
                    }
                    if (raw is not null)
                        yield return Convert(raw);
                }
            }
            finally
            {
                await events.DisposeAsync().ConfigureAwait(false);
            }
        }

        private WatchEvent<T> Convert(WatchEventObject raw)
        {
            var type = raw.Type switch
            {
                "ADDED" => WatchEventType.Added,
                "MODIFIED" => WatchEventType.Modified,
                "DELETED" => WatchEventType.Deleted,
                "BOOKMARK" => WatchEventType.Bookmark,
                "ERROR" => WatchEventType.Error,
                _ => throw new KubernetesApiException(ApiFailure.Protocol, $"{what}: unknown watch event type '{raw.Type}'"),
            };
            if (type != WatchEventType.Error)
                return new WatchEvent<T>(type, resource.Decode(raw.Object), null);
            StatusObject? status = null;
            try
            {
                status = raw.Object.ValueKind == JsonValueKind.Object ? raw.Object.Deserialize(KubernetesJson.Default.StatusObject) : null;
            }
            catch (JsonException)
            {
                // an ERROR without a readable Status: still an error
            }
            return new WatchEvent<T>(type, null, status ?? new StatusObject { Message = "watch ERROR event without a Status" });
        }

        public async ValueTask DisposeAsync()
        {
            await body.DisposeAsync().ConfigureAwait(false);
            response.Dispose();
            deadline.Dispose();
        }
    }
}
