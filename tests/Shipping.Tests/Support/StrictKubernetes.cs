using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace ProxyReplacement.Shipping.Tests.Support;

/// <summary>
/// Parses a rendered object into the KubernetesClient model of its kind with unknown fields refused
/// (System.Text.Json's <see cref="JsonUnmappedMemberHandling.Disallow"/> on the client's own serializer options,
/// which carry its converters for quantities, int-or-string and times): what the API server's strict field
/// validation would refuse, a misspelt or misplaced field, fails here. The prometheus-operator kinds have no model
/// in the client: <see cref="ServiceMonitor"/> and <see cref="PodMonitor"/> below model the fields of their CRD
/// that a chart may use.
/// </summary>
internal static class StrictKubernetes
{
    private static readonly Dictionary<(string ApiVersion, string Kind), Type> Models = new()
    {
        [("v1", "ConfigMap")] = typeof(V1ConfigMap),
        [("v1", "Service")] = typeof(V1Service),
        [("v1", "ServiceAccount")] = typeof(V1ServiceAccount),
        [("apps/v1", "DaemonSet")] = typeof(V1DaemonSet),
        [("rbac.authorization.k8s.io/v1", "ClusterRole")] = typeof(V1ClusterRole),
        [("rbac.authorization.k8s.io/v1", "ClusterRoleBinding")] = typeof(V1ClusterRoleBinding),
        [("monitoring.coreos.com/v1", "ServiceMonitor")] = typeof(ServiceMonitor),
        [("monitoring.coreos.com/v1", "PodMonitor")] = typeof(PodMonitor),
    };

    private static readonly JsonSerializerOptions Options = CreateOptions();

    private static JsonSerializerOptions CreateOptions()
    {
        JsonSerializerOptions? client = null;
        KubernetesJson.AddJsonOptions(options => client = options);
        var strict = new JsonSerializerOptions(client!) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };
        strict.MakeReadOnly(populateMissingResolver: true);
        return strict;
    }

    public static IReadOnlyCollection<(string ApiVersion, string Kind)> KnownKinds => Models.Keys;

    /// <summary>The model object; throws <see cref="JsonException"/> naming the unknown or mistyped field.</summary>
    public static object Parse(JsonObject json)
    {
        var key = ((string)json["apiVersion"]!, (string)json["kind"]!);
        if (!Models.TryGetValue(key, out var type))
            throw new JsonException($"no model for {key.Item1} {key.Item2}: add one to StrictKubernetes");
        return JsonSerializer.Deserialize(json.ToJsonString(), type, Options)
               ?? throw new JsonException($"{key} parsed to null");
    }

    public static T Parse<T>(JsonObject json) => (T)Parse(json);
}

// ----- prometheus-operator monitoring.coreos.com/v1 (the fields of the CRDs a chart may set) -----------------

internal sealed class ServiceMonitor
{
    [JsonPropertyName("apiVersion")] public string? ApiVersion { get; set; }
    [JsonPropertyName("kind")] public string? Kind { get; set; }
    [JsonPropertyName("metadata")] public V1ObjectMeta? Metadata { get; set; }
    [JsonPropertyName("spec")] public ServiceMonitorSpec? Spec { get; set; }
}

internal sealed class ServiceMonitorSpec
{
    [JsonPropertyName("selector")] public V1LabelSelector? Selector { get; set; }
    [JsonPropertyName("namespaceSelector")] public NamespaceSelector? NamespaceSelector { get; set; }
    [JsonPropertyName("endpoints")] public List<MonitorEndpoint>? Endpoints { get; set; }
    [JsonPropertyName("jobLabel")] public string? JobLabel { get; set; }
    [JsonPropertyName("targetLabels")] public List<string>? TargetLabels { get; set; }
    [JsonPropertyName("podTargetLabels")] public List<string>? PodTargetLabels { get; set; }
}

internal sealed class PodMonitor
{
    [JsonPropertyName("apiVersion")] public string? ApiVersion { get; set; }
    [JsonPropertyName("kind")] public string? Kind { get; set; }
    [JsonPropertyName("metadata")] public V1ObjectMeta? Metadata { get; set; }
    [JsonPropertyName("spec")] public PodMonitorSpec? Spec { get; set; }
}

internal sealed class PodMonitorSpec
{
    [JsonPropertyName("selector")] public V1LabelSelector? Selector { get; set; }
    [JsonPropertyName("namespaceSelector")] public NamespaceSelector? NamespaceSelector { get; set; }
    [JsonPropertyName("podMetricsEndpoints")] public List<MonitorEndpoint>? PodMetricsEndpoints { get; set; }
    [JsonPropertyName("jobLabel")] public string? JobLabel { get; set; }
    [JsonPropertyName("podTargetLabels")] public List<string>? PodTargetLabels { get; set; }
}

internal sealed class NamespaceSelector
{
    [JsonPropertyName("any")] public bool? Any { get; set; }
    [JsonPropertyName("matchNames")] public List<string>? MatchNames { get; set; }
}

internal sealed class MonitorEndpoint
{
    [JsonPropertyName("port")] public string? Port { get; set; }
    [JsonPropertyName("path")] public string? Path { get; set; }
    [JsonPropertyName("scheme")] public string? Scheme { get; set; }
    [JsonPropertyName("interval")] public string? Interval { get; set; }
    [JsonPropertyName("scrapeTimeout")] public string? ScrapeTimeout { get; set; }
    [JsonPropertyName("honorLabels")] public bool? HonorLabels { get; set; }
    [JsonPropertyName("relabelings")] public List<RelabelConfig>? Relabelings { get; set; }
    [JsonPropertyName("metricRelabelings")] public List<RelabelConfig>? MetricRelabelings { get; set; }
}

internal sealed class RelabelConfig
{
    [JsonPropertyName("sourceLabels")] public List<string>? SourceLabels { get; set; }
    [JsonPropertyName("separator")] public string? Separator { get; set; }
    [JsonPropertyName("targetLabel")] public string? TargetLabel { get; set; }
    [JsonPropertyName("regex")] public string? Regex { get; set; }
    [JsonPropertyName("replacement")] public string? Replacement { get; set; }
    [JsonPropertyName("action")] public string? Action { get; set; }
}
