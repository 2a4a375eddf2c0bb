using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyReplacement.ServiceProxy.Daemon;

namespace ProxyReplacement.ServiceProxy.Health;

/// <summary>A health answer: the status code and the JSON body.</summary>
public sealed record HealthResponse(int StatusCode, string Body)
{
    /// <summary>The headers kube-proxy's health servers set on every answer.</summary>
    public static readonly IReadOnlyList<KeyValuePair<string, string>> Headers =
    [
        new("Content-Type", "application/json"),
        new("X-Content-Type-Options", "nosniff"),
    ];
}

/// <summary>
/// The node's health endpoints on <c>--healthz-bind-address</c>, kube-proxy's way:
/// <list type="bullet">
/// <item><c>/healthz</c>: 200 when the proxy is healthy and the node eligible, else 503 (load balancers probing it drain
/// a node being deleted or scaled down, KEP-3836). Body <c>{"lastUpdated","currentTime","nodeEligible"}</c>; as in
/// kube-proxy, <c>lastUpdated</c> is the current time while healthy (the real last sync is the extra <c>lastSynced</c>).</item>
/// <item><c>/livez</c>: liveness only: the same health without the node's eligibility (a draining node is alive).
/// Body <c>{"lastUpdated","currentTime"}</c>.</item>
/// <item><c>/readyz</c>: 200 once the first complete view is in the maps.</item>
/// </list>
/// Extra keys after kube-proxy's: <c>source</c> (<c>ok</c> or <c>degraded</c>), <c>sourceDegradedSince</c>, <c>sourceReason</c>.
/// Times are ISO 8601 in UTC (round-trip format, e.g. <c>2026-12-06T10:00:00.0000000Z</c>); a time never recorded is null.
/// </summary>
public static class NodeHealthEndpoints
{
    /// <summary>Escapes only what JSON needs (the body is served as application/json with nosniff, never as HTML).</summary>
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void Map(WebApplication app, HealthState health)
    {
        app.MapGet("/healthz", context => Write(context, Healthz(health)));
        app.MapGet("/livez", context => Write(context, Livez(health)));
        app.MapGet("/readyz", context => Write(context, Readyz(health)));
    }

    public static HealthResponse Healthz(HealthState health)
    {
        var now = health.Now;
        var eligible = health.NodeEligible;
        var healthy = health.Healthy && eligible;
        return Respond(healthy, writer =>
        {
            Time(writer, "lastUpdated", healthy ? now : health.LastSync);
            Time(writer, "currentTime", now);
            writer.WriteBoolean("nodeEligible", eligible);
            Time(writer, "lastSynced", health.LastSync);
            Source(writer, health.Source);
        });
    }

    public static HealthResponse Livez(HealthState health)
    {
        var now = health.Now;
        var healthy = health.Healthy;
        return Respond(healthy, writer =>
        {
            Time(writer, "lastUpdated", healthy ? now : health.LastSync);
            Time(writer, "currentTime", now);
            Time(writer, "lastSynced", health.LastSync);
            Source(writer, health.Source);
        });
    }

    public static HealthResponse Readyz(HealthState health) =>
        Respond(health.Ready, writer =>
        {
            Time(writer, "lastUpdated", health.LastSync);
            Time(writer, "currentTime", health.Now);
            Source(writer, health.Source);
        });

    public static Task Write(HttpContext context, HealthResponse response)
    {
        context.Response.StatusCode = response.StatusCode;
        foreach (var (name, value) in HealthResponse.Headers)
            context.Response.Headers[name] = value;
        return context.Response.WriteAsync(response.Body, Encoding.UTF8);
    }

    private static HealthResponse Respond(bool ok, Action<Utf8JsonWriter> fields)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            fields(writer);
            writer.WriteEndObject();
        }
        return new HealthResponse(ok ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable, Encoding.UTF8.GetString(buffer.ToArray()));
    }

    private static void Time(Utf8JsonWriter writer, string name, DateTimeOffset? value)
    {
        if (value is { } time)
            writer.WriteString(name, time.UtcDateTime.ToString("O"));
        else
            writer.WriteNull(name);
    }

    private static void Source(Utf8JsonWriter writer, SourceCondition source)
    {
        writer.WriteString("source", source.Degraded ? "degraded" : "ok");
        Time(writer, "sourceDegradedSince", source.Since);
        if (source.Reason is { } reason)
            writer.WriteString("sourceReason", reason);
        else
            writer.WriteNull("sourceReason");
    }
}
