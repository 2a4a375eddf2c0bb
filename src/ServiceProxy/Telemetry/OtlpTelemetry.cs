using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using ProxyReplacement.ServiceProxy.Daemon;

namespace ProxyReplacement.ServiceProxy.Telemetry;

/// <summary>
/// OpenTelemetry export over OTLP: the traces of <see cref="ProxyActivitySources"/> and the instruments of
/// <see cref="ProxyMetrics.Meter"/>, to <c>--otlp-endpoint</c> or the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>; off
/// when neither is set. <c>OTEL_EXPORTER_OTLP_PROTOCOL</c> chooses <c>grpc</c> (the default, port 4317) or
/// <c>http/protobuf</c> (port 4318; the signal's path, <c>/v1/traces</c> or <c>/v1/metrics</c>, is appended to the
/// endpoint as the specification says). The service is <c>service-proxy</c>, with the node's name.
/// </summary>
public sealed class OtlpTelemetry : IDisposable
{
    private readonly TracerProvider _traces;
    private readonly MeterProvider _metrics;

    private OtlpTelemetry(TracerProvider traces, MeterProvider metrics)
    {
        _traces = traces;
        _metrics = metrics;
    }

    public Uri Endpoint { get; private init; } = null!;
    public OtlpExportProtocol Protocol { get; private init; }

    /// <summary>Starts exporting, or returns null when no endpoint is configured.</summary>
    public static OtlpTelemetry? Start(Uri? endpoint, Func<string, string?> environment, ProxyMetrics metrics, string nodeName)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(metrics);
        if (endpoint is null && environment("OTEL_EXPORTER_OTLP_ENDPOINT") is { Length: > 0 } fromEnvironment)
            endpoint = Uri.TryCreate(fromEnvironment, UriKind.Absolute, out var parsed) ? parsed : null;
        if (endpoint is null)
            return null;
        var protocol = environment("OTEL_EXPORTER_OTLP_PROTOCOL") is "http/protobuf" ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;

        void Configure(OtlpExporterOptions options, string signalPath)
        {
            options.Protocol = protocol;
            options.Endpoint = protocol == OtlpExportProtocol.HttpProtobuf
                ? new Uri(endpoint.AbsoluteUri.TrimEnd('/') + "/" + signalPath)
                : endpoint;
        }

        var resource = ResourceBuilder.CreateDefault()
            .AddService("service-proxy")
            .AddAttributes([new KeyValuePair<string, object>("k8s.node.name", nodeName)]);
        var traces = Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(resource)
            .AddSource(ProxyActivitySources.All)
            .AddOtlpExporter(options => Configure(options, "v1/traces"))
            .Build();
        var meters = Sdk.CreateMeterProviderBuilder()
            .SetResourceBuilder(resource)
            .AddMeter(ProxyMetrics.MeterName)
            .AddOtlpExporter(options => Configure(options, "v1/metrics"))
            .Build();
        return new OtlpTelemetry(traces, meters) { Endpoint = endpoint, Protocol = protocol };
    }

    /// <summary>Exports what is buffered now (tests; <see cref="Dispose"/> does it too).</summary>
    public void Flush()
    {
        _traces.ForceFlush();
        _metrics.ForceFlush();
    }

    public void Dispose()
    {
        _traces.Dispose();
        _metrics.Dispose();
    }
}
