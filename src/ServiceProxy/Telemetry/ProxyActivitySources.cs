using System.Diagnostics;

namespace ProxyReplacement.ServiceProxy.Telemetry;

/// <summary>
/// The daemon's OpenTelemetry traces (<see cref="ActivitySource"/>s; nothing is recorded unless a listener, the OTLP
/// exporter of <see cref="OtlpTelemetry"/> or a test's in-memory exporter, subscribes):
/// <list type="bullet">
/// <item><see cref="Sync"/>: one trace per sync, <c>sync</c> with the children <c>commit</c> (the change tracker),
/// <c>read maps</c> (a full sync re-reads them), <c>build</c> (desired state), <c>diff</c> and <c>apply</c> (the map
/// writes), tagged with the Services, writes and problems;</item>
/// <item><see cref="Source"/>: a source's relists and watch restarts.</item>
/// </list>
/// </summary>
public static class ProxyActivitySources
{
    public const string SyncName = "ProxyReplacement.Sync";
    public const string SourceName = "ProxyReplacement.Source";

    public static readonly ActivitySource Sync = new(SyncName);
    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>Every source name, for a tracer provider's <c>AddSource</c>.</summary>
    public static readonly string[] All = [SyncName, SourceName];
}
