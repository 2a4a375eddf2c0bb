using System.Text.Json;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Objects;

/// <summary>
/// A List response (<c>ServiceList</c>, ...). Items stay raw JSON here and are decoded one by one, so a
/// malformed item is reported and skipped instead of failing the whole page.
/// </summary>
public sealed record ListObject
{
    public string? ApiVersion { get; init; }
    public string? Kind { get; init; }
    public ListMeta? Metadata { get; init; }
    public List<JsonElement>? Items { get; init; }
}

/// <summary>One line of a watch stream: ADDED, MODIFIED, DELETED, BOOKMARK or ERROR and the (raw) object or Status.</summary>
public sealed record WatchEventObject
{
    public string? Type { get; init; }
    public JsonElement Object { get; init; }
}

/// <summary>A <c>v1 Status</c>: the body of an error response and of a watch ERROR event.</summary>
public sealed record StatusObject
{
    public string? ApiVersion { get; init; }
    public string? Kind { get; init; }
    public string? Status { get; init; }
    public string? Message { get; init; }
    public string? Reason { get; init; }
    public int? Code { get; init; }
    public StatusDetails? Details { get; init; }
}

public sealed record StatusDetails
{
    public int? RetryAfterSeconds { get; init; }
}
