namespace ProxyReplacement.ServiceProxy.Kubernetes.Objects;

/// <summary>
/// <c>metadata</c> of an object, the fields the proxy reads. Every wire type here mirrors the API's JSON
/// (camelCase, every field optional): what is required is decided by the rules in <c>Parsing/</c>, shared
/// with the manifest reader, not by the deserializer.
/// </summary>
public sealed record ObjectMeta
{
    public string? Name { get; init; }
    public string? Namespace { get; init; }
    public string? ResourceVersion { get; init; }
    public string? Uid { get; init; }
    public Dictionary<string, string>? Labels { get; init; }
    public Dictionary<string, string>? Annotations { get; init; }
    public string? DeletionTimestamp { get; init; }
}

/// <summary><c>metadata</c> of a List: its resourceVersion (watch from there) and the continue token of the next page.</summary>
public sealed record ListMeta
{
    public string? ResourceVersion { get; init; }
    public string? Continue { get; init; }
    public long? RemainingItemCount { get; init; }
}

/// <summary>An object with metadata: what list and watch decode per item.</summary>
public interface IKubernetesObject
{
    string? ApiVersion { get; }
    string? Kind { get; }
    ObjectMeta? Metadata { get; }
}
