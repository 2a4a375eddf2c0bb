using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Api;

/// <summary>
/// Decodes one raw object into its wire type. A JSON shape error (a port that is a string, a list that
/// is an object) becomes the item's <see cref="ApiItem{T}.Error"/> with the field path, so the object
/// is reported and skipped while the rest of the page or stream is used.
/// </summary>
internal static partial class ItemDecoder
{
    public static ApiItem<T> Decode<T>(JsonElement element, JsonTypeInfo<T> typeInfo) where T : class
    {
        var (ns, name, resourceVersion) = Identity(element);
        if (element.ValueKind != JsonValueKind.Object)
            return new ApiItem<T>(ns, name, resourceVersion, null, $"expected an object, got {element.ValueKind}");
        try
        {
            var value = element.Deserialize(typeInfo);
            return new ApiItem<T>(ns, name, resourceVersion, value, value is null ? "the object is null" : null);
        }
        catch (JsonException error)
        {
            return new ApiItem<T>(ns, name, resourceVersion, null, Describe(error));
        }
    }

    /// <summary>"spec.ports[0].port: wrong JSON type, expected an integer" from the deserializer's exception.</summary>
    public static string Describe(JsonException error)
    {
        var path = (error.Path ?? "$").TrimStart('$').TrimStart('.');
        var target = ConvertedTo().Match(error.Message) is { Success: true } match ? match.Groups[1].Value : null;
        var expected = target switch
        {
            null => null,
            _ when target.Contains("Int32", StringComparison.Ordinal) || target.Contains("Int64", StringComparison.Ordinal) => "an integer",
            _ when target.Contains("Boolean", StringComparison.Ordinal) => "true or false",
            _ when target.Contains("String", StringComparison.Ordinal) && !target.Contains("List", StringComparison.Ordinal) && !target.Contains("Dictionary", StringComparison.Ordinal) => "a string",
            _ when target.Contains("List", StringComparison.Ordinal) => "a list",
            _ => "an object",
        };
        var what = expected is null ? error.Message.Split(" Path:")[0] : $"wrong JSON type, expected {expected}";
        return path.Length == 0 ? what : $"{path}: {what}";
    }

    private static (string? Namespace, string? Name, string? ResourceVersion) Identity(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty("metadata", out var metadata) || metadata.ValueKind != JsonValueKind.Object)
            return (null, null, null);
        return (StringField(metadata, "namespace"), StringField(metadata, "name"), StringField(metadata, "resourceVersion"));
    }

    private static string? StringField(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    [GeneratedRegex(@"could not be converted to ([^ ]+?)\.? Path", RegexOptions.CultureInvariant)]
    private static partial Regex ConvertedTo();
}
