using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Api;

/// <summary>
/// client-go's request metrics, as kube-proxy exposes them, declared once with System.Diagnostics.Metrics
/// (meter <see cref="MeterName"/>) so that a Prometheus adapter and an OTLP exporter both get them:
/// <c>rest_client_requests_total{code,method,host}</c> (code: the HTTP status, or <c>&lt;error&gt;</c> when
/// no answer came) and <c>rest_client_request_duration_seconds{verb,host}</c> (until the response headers:
/// for a watch, the time to open it), with client-go's buckets. The instrument names are the Prometheus
/// names already: an exporter must not add a unit suffix to them.
/// </summary>
public static class RestClientMetrics
{
    public const string MeterName = "ProxyReplacement.Kubernetes";

    /// <summary>client-go's <c>requestLatency</c> buckets (k8s.io/client-go/tools/metrics via component-base).</summary>
    public static readonly IReadOnlyList<double> DurationBuckets = [0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0];

    public static readonly Meter Meter = new(MeterName);

    public static readonly Counter<long> Requests = Meter.CreateCounter<long>("rest_client_requests_total", unit: null,
        "Number of HTTP requests, partitioned by status code, method, and host.");

    public static readonly Histogram<double> RequestDuration = Meter.CreateHistogram("rest_client_request_duration_seconds", unit: null,
        "Request latency in seconds. Broken down by verb, and host.", tags: null,
        new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });

    internal static void Record(string method, string host, int? statusCode, TimeSpan duration)
    {
        var code = statusCode?.ToString(CultureInfo.InvariantCulture) ?? "<error>";
        Requests.Add(1, new TagList { { "code", code }, { "method", method }, { "host", host } });
        RequestDuration.Record(duration.TotalSeconds, new TagList { { "verb", method }, { "host", host } });
    }
}

/// <summary>The <see cref="DelegatingHandler"/> on KubernetesClient's HttpClient that records <see cref="RestClientMetrics"/> for every request.</summary>
public sealed class RestClientMetricsHandler(TimeProvider? time = null) : DelegatingHandler
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        var host = request.RequestUri is { } uri ? uri.Authority : "";
        try
        {
            var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            RestClientMetrics.Record(request.Method.Method, host, (int)response.StatusCode, _time.GetElapsedTime(started));
            return response;
        }
        catch
        {
            RestClientMetrics.Record(request.Method.Method, host, null, _time.GetElapsedTime(started));
            throw;
        }
    }
}
