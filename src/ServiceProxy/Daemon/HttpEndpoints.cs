using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace ProxyReplacement.ServiceProxy.Daemon;

/// <summary>
/// The health (kube-proxy's <c>--healthz-bind-address</c>) and metrics (<c>--metrics-bind-address</c>)
/// HTTP servers: /healthz, /livez, /readyz (<see cref="Health.NodeHealthEndpoints"/>) and /metrics, served on both addresses.
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

        Health.NodeHealthEndpoints.Map(app, daemon.Health); // /healthz, /livez, /readyz
        app.MapMetrics("/metrics", daemon.Metrics.Registry); // prometheus-net: text or OpenMetrics, as the scraper asks
        return app;
    }
}
