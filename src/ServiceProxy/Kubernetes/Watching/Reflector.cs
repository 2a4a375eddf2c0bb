using Microsoft.Extensions.Logging;
using Polly;
using ProxyReplacement.ServiceProxy.Kubernetes.Api;
using ProxyReplacement.ServiceProxy.Kubernetes.Objects;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Watching;

/// <summary>
/// Keeps one resource in step with the API server, like client-go's reflector: list every page, hand
/// the complete list to the sink, then watch from the list's resourceVersion, following each event's
/// (and each bookmark's) resourceVersion. A watch that ends or drops is reopened from the last
/// resourceVersion; <c>410 Gone</c> (HTTP or an ERROR event) or an expired continue token means that
/// version is gone: list again and hand over the complete new list (the sink replaces its state in
/// place: nothing is flushed). Every other failure is retried by <see cref="RetryPipeline"/>.
/// </summary>
public sealed partial class Reflector<T> where T : class, IKubernetesObject
{
    private enum WatchEnd
    {
        Gone,
        Closed,
        ClosedEmpty,
        Dropped,
        Error,
    }

    private readonly IKubernetesApi _api;
    private readonly ApiResource<T> _resource;
    private readonly string? _labelSelector;
    private readonly IReflectorSink<T> _sink;
    private readonly ReflectorSettings _settings;
    private readonly KubernetesMetrics _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ResiliencePipeline _retry;
    private string _resourceVersion = "";

    public Reflector(IKubernetesApi api, ApiResource<T> resource, string? labelSelector, IReflectorSink<T> sink,
        ReflectorSettings settings, KubernetesMetrics metrics, ILogger logger, TimeProvider? time = null)
    {
        _api = api;
        _resource = resource;
        _labelSelector = labelSelector;
        _sink = sink;
        _settings = settings;
        _metrics = metrics;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _retry = RetryPipeline.Create(settings, _time, OnRetry);
    }

    /// <summary>The resourceVersion the next watch starts from ("" before the first list).</summary>
    public string ResourceVersion => Volatile.Read(ref _resourceVersion);

    /// <summary>Runs until cancelled (then throws <see cref="OperationCanceledException"/>).</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var reason = "initial";
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await ListAsync(reason, cancellationToken).ConfigureAwait(false);
            reason = await WatchUntilGoneAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ListAsync(string reason, CancellationToken cancellationToken)
    {
        var expiredInARow = 0;
        while (true)
        {
            _metrics.Relists.Increment(KubernetesMetrics.ResourceLabels(_resource.Name, "reason", reason));
            using var span = Telemetry.ProxyActivitySources.Source.StartActivity("list")
                ?.SetTag("resource", _resource.Name).SetTag("reason", reason);
            // After two expired continue tokens in a row the server compacts faster than we page: ask for everything at once.
            var limit = expiredInARow >= 2 ? 0 : _settings.PageSize;
            var items = new List<ApiItem<T>>();
            string? continueToken = null;
            string resourceVersion;
            var pages = 0;
            try
            {
                do
                {
                    var request = new ListRequest(_labelSelector, limit, continueToken);
                    var page = await _retry.ExecuteAsync(
                        async token => await _api.ListAsync(_resource, request, token).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
                    items.AddRange(page.Items);
                    continueToken = page.Continue;
                    resourceVersion = page.ResourceVersion;
                    pages++;
                }
                while (continueToken is not null);
            }
            catch (KubernetesApiException error) when (error.IsGone)
            {
                RecordError(error);
                LogContinueExpired(_logger, _resource.Name, pages, error.Message);
                // 410 on a first page is not an expired token, but the cure is the same: list again, gently.
                reason = continueToken is null ? "gone" : "continue_expired";
                expiredInARow++;
                if (expiredInARow >= 2)
                    await Task.Delay(_settings.InitialBackoff, _time, cancellationToken).ConfigureAwait(false);
                continue;
            }

            span?.SetTag("items", items.Count).SetTag("pages", pages);
            _sink.Replace(items);
            Volatile.Write(ref _resourceVersion, resourceVersion);
            _sink.Condition(null);
            LogListed(_logger, _resource.Name, items.Count, pages, resourceVersion, reason);
            return;
        }
    }

    /// <summary>Watches (reopening as needed) until the resourceVersion is gone; returns the relist reason.</summary>
    private async Task<string> WatchUntilGoneAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var end = await _retry.ExecuteAsync(async token => await WatchOnceAsync(token).ConfigureAwait(false), cancellationToken)
                .ConfigureAwait(false);
            switch (end)
            {
                case WatchEnd.Gone:
                    LogGone(_logger, _resource.Name, ResourceVersion);
                    return "gone";
                case WatchEnd.ClosedEmpty:
                    // A server (or a proxy in between) closing watches at once must not make us spin.
                    RecordRestart("closed");
                    await Task.Delay(_settings.InitialBackoff, _time, cancellationToken).ConfigureAwait(false);
                    break;
                case WatchEnd.Closed:
                    RecordRestart("closed");
                    break;
                case WatchEnd.Dropped:
                    RecordRestart("dropped");
                    break;
                case WatchEnd.Error:
                    RecordRestart("error");
                    break;
            }
        }
    }

    private async Task<WatchEnd> WatchOnceAsync(CancellationToken cancellationToken)
    {
        var request = new WatchRequest(_labelSelector, ResourceVersion, WatchTimeoutSeconds());
        IWatchStream<T> stream;
        try
        {
            stream = await _api.WatchAsync(_resource, request, cancellationToken).ConfigureAwait(false);
        }
        catch (KubernetesApiException error) when (error.IsGone)
        {
            RecordError(error);
            return WatchEnd.Gone;
        }
        _sink.Condition(null);

        var progress = false;
        await using (stream.ConfigureAwait(false))
        {
            try
            {
                await foreach (var watchEvent in stream.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                {
                    switch (watchEvent.Type)
                    {
                        case WatchEventType.Added or WatchEventType.Modified:
                            _sink.Upsert(watchEvent.Item!);
                            break;
                        case WatchEventType.Deleted:
                            _sink.Delete(watchEvent.Item!);
                            break;
                        case WatchEventType.Bookmark:
                            break;
                        case WatchEventType.Error:
                            var status = watchEvent.Status!;
                            var error = new KubernetesApiException(ApiFailure.Status,
                                $"watch {_resource} from resourceVersion {request.ResourceVersion}: ERROR event {status.Code} {status.Reason}: {status.Message}",
                                status.Code, status);
                            if (error.IsGone)
                            {
                                RecordError(error);
                                return WatchEnd.Gone;
                            }
                            throw error;
                    }
                    if (watchEvent.Item?.ResourceVersion is { Length: > 0 } version)
                        Volatile.Write(ref _resourceVersion, version);
                    progress = true;
                }
            }
            catch (KubernetesApiException error) when (progress)
            {
                // It worked for a while: reopen at once from where we are (a failure to reopen backs off).
                RecordError(error);
                LogWatchBroken(_logger, _resource.Name, ResourceVersion, error.Message);
                return error.Failure == ApiFailure.Status ? WatchEnd.Error : WatchEnd.Dropped;
            }
        }
        return progress ? WatchEnd.Closed : WatchEnd.ClosedEmpty;
    }

    private int WatchTimeoutSeconds()
    {
        var minimum = Math.Max(1, (int)_settings.MinWatchTimeout.TotalSeconds);
        return minimum + Random.Shared.Next(minimum + 1);
    }

    private void OnRetry(KubernetesApiException error, TimeSpan delay, int attempt)
    {
        RecordError(error);
        _sink.Condition(error.Message);
        LogRetrying(_logger, _resource.Name, error.Message, delay.TotalMilliseconds, attempt + 1);
    }

    private void RecordError(KubernetesApiException error) =>
        _metrics.RequestErrors.Increment(KubernetesMetrics.ResourceLabels(_resource.Name, "code", error.Code));

    private void RecordRestart(string reason)
    {
        _metrics.WatchRestarts.Increment(KubernetesMetrics.ResourceLabels(_resource.Name, "reason", reason));
        // A point in time rather than a span: the restart is the moment the watch is reopened.
        Telemetry.ProxyActivitySources.Source.StartActivity("watch restart")?.SetTag("resource", _resource.Name).SetTag("reason", reason).Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Listed {Resource}: {Count} objects in {Pages} pages at resourceVersion {ResourceVersion} ({Reason})")]
    private static partial void LogListed(ILogger logger, string resource, int count, int pages, string resourceVersion, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Resource}: {Error}; retrying in {DelayMs:F0} ms (attempt {Attempt}); the dataplane keeps its last state")]
    private static partial void LogRetrying(ILogger logger, string resource, string error, double delayMs, int attempt);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Resource}: resourceVersion {ResourceVersion} is gone (410); relisting and replacing the state in place")]
    private static partial void LogGone(ILogger logger, string resource, string resourceVersion);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Resource}: the list's continue token expired after {Pages} pages ({Error}); listing again from the start")]
    private static partial void LogContinueExpired(ILogger logger, string resource, int pages, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Resource}: watch broke at resourceVersion {ResourceVersion} ({Error}); reopening from there")]
    private static partial void LogWatchBroken(ILogger logger, string resource, string resourceVersion, string error);
}
