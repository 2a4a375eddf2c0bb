using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace ProxyReplacement.ServiceProxy.Daemon;

/// <summary>
/// The health (kube-proxy's <c>--healthz-bind-address</c>) and metrics (<c>--metrics-bind-address</c>)
/// HTTP servers: /healthz, /readyz and /metrics, served on both addresses.
/// </summary>
public static class HttpEndpoints
{
    public static WebApplication? Create(IReadOnlyList<IPEndPoint> addresses, ProxyDaemon daemon, ILoggerFactory loggers)
    {
        if (addresses.Count == 0)
            return null;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggers);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            foreach (var address in addresses.Distinct())
                kestrel.Listen(address);
        });
        var app = builder.Build();

        app.MapGet("/healthz", () => Status(daemon.Health.Healthy, daemon.Health));
        app.MapGet("/readyz", () => Status(daemon.Health.Ready, daemon.Health));
        app.MapMetrics("/metrics", daemon.Metrics.Registry); // prometheus-net: text or OpenMetrics, as the scraper asks
        return app;
    }

    private static IResult Status(bool ok, HealthState health)
    {
        var source = health.Source;
        var body = JsonSerializer.Serialize(new Dictionary<string, string?>
        {
            ["lastUpdated"] = health.LastSync?.ToString("O"),
            ["currentTime"] = health.Now.ToString("O"),
            ["source"] = source.Degraded ? "degraded" : "ok",
            ["sourceDegradedSince"] = source.Since?.ToString("O"),
            ["sourceReason"] = source.Reason,
        });
        return Results.Text(body, "application/json", statusCode: ok ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
    }
}
