using System.Text.Json.Serialization;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Objects;

/// <summary>
/// Source-generated (reflection-free) System.Text.Json metadata for every wire type: the API's camelCase
/// names, unknown fields ignored, nulls left out when writing (the fake API server of the tests writes too).
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ServiceObject))]
[JsonSerializable(typeof(EndpointSliceObject))]
[JsonSerializable(typeof(NodeObject))]
[JsonSerializable(typeof(ListObject))]
[JsonSerializable(typeof(WatchEventObject))]
[JsonSerializable(typeof(StatusObject))]
[JsonSerializable(typeof(ObjectMeta))]
public sealed partial class KubernetesJson : JsonSerializerContext;
