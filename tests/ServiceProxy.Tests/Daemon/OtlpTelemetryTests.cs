using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Exporter;
using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Telemetry;

namespace ProxyReplacement.ServiceProxy.Tests.Daemon;

/// <summary>The OTLP exporter: off without an endpoint, on with the flag or the standard variable, sending to a fake collector.</summary>
public sealed class OtlpTelemetryTests
{
    private static Func<string, string?> Environment(params (string Name, string Value)[] variables) =>
        name => variables.FirstOrDefault(variable => variable.Name == name).Value;

    [Test]
    public void Without_an_endpoint_nothing_is_exported()
    {
        using var metrics = new ProxyMetrics();

        Assert.That(OtlpTelemetry.Start(null, Environment(), metrics, "node-1"), Is.Null);
    }

    [Test]
    public void The_flag_wins_over_the_standard_variable_and_grpc_is_the_default()
    {
        using var metrics = new ProxyMetrics();

        using var fromFlag = OtlpTelemetry.Start(new Uri("http://flag:4317"), Environment(("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4317")), metrics, "node-1");
        using var fromEnvironment = OtlpTelemetry.Start(null, Environment(("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")), metrics, "node-1");

        Assert.Multiple(() =>
        {
            Assert.That(fromFlag!.Endpoint, Is.EqualTo(new Uri("http://flag:4317")));
            Assert.That(fromFlag.Protocol, Is.EqualTo(OtlpExportProtocol.Grpc));
            Assert.That(fromEnvironment!.Endpoint, Is.EqualTo(new Uri("http://env:4318")));
            Assert.That(fromEnvironment.Protocol, Is.EqualTo(OtlpExportProtocol.HttpProtobuf));
        });
    }

    [Test]
    public async Task Traces_and_metrics_reach_a_collector_over_http_protobuf()
    {
        var requests = new ConcurrentBag<string>();
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
        await using var collector = builder.Build();
        collector.MapPost("/v1/{signal}", (string signal, HttpRequest request) =>
        {
            if (request.ContentType == "application/x-protobuf")
                requests.Add(signal);
            return Results.Ok();
        });
        await collector.StartAsync();

        using var metrics = new ProxyMetrics();
        using (var telemetry = OtlpTelemetry.Start(new Uri($"http://127.0.0.1:{port}"), Environment(("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")), metrics, "node-1"))
        {
            using (ProxyActivitySources.Sync.StartActivity("sync"))
                metrics.SyncDuration.Record(0.01);
            telemetry!.Flush();
        }
        await collector.StopAsync();

        Assert.That(requests.Distinct(), Is.EquivalentTo(new[] { "traces", "metrics" }));
    }
}
