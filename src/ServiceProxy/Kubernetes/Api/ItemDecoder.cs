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
    /// <summary>Decodes <paramref name="element"/> as <typeparamref name="TModel"/> and maps it to the wire record <typeparamref name="T"/>.</summary>
    public static ApiItem<T> Decode<TModel, T>(JsonElement element, JsonTypeInfo<TModel> typeInfo, Func<TModel, T> map)
        where TModel : class
        where T : class
    {
        var (ns, name, resourceVersion) = Identity(element);
        if (element.ValueKind != JsonValueKind.Object)
            return new ApiItem<T>(ns, name, resourceVersion, null, $"expected an object, got {element.ValueKind}");
        try
        {
            var value = element.Deserialize(typeInfo);
            return new ApiItem<T>(ns, name, resourceVersion, value is null ? null : map(value), value is null ? "the object is null" : null);
        }
        catch (JsonException error)
        {
            return new ApiItem<T>(ns, name, resourceVersion, null, Describe(error, element, typeInfo));
        }
        catch (NotSupportedException error)
        {
            return new ApiItem<T>(ns, name, resourceVersion, null, Describe(error));
        }
    }

    /// <summary>
    /// A converter that refused a value (the package's int-or-string converter given a list or an object) throws
    /// <see cref="NotSupportedException"/> with the JSON path in its message: "spec.ports[0].port: expected a number or a name".
    /// </summary>
    public static string Describe(NotSupportedException error)
    {
        var match = NotSupportedPath().Match(error.Message);
        var path = match.Success ? match.Groups["path"].Value.TrimStart('$').TrimStart('.') : "";
        return path.Length == 0 ? "a value of an unsupported type" : $"{path}: a value of an unsupported type (expected a number or a name)";
    }

    [GeneratedRegex(@"Path: (?<path>\$[^ |]*)", RegexOptions.CultureInvariant)]
    private static partial Regex NotSupportedPath();

    /// <summary>
    /// "spec.ports[0].port: expected an integer, got 'eighty'", the manifest reader's wording: the expected
    /// type from the source-generated metadata along the failing path, the value found from the JSON.
    /// </summary>
    public static string Describe<T>(JsonException error, JsonElement element, JsonTypeInfo<T> typeInfo)
    {
        var path = (error.Path ?? "$").TrimStart('$').TrimStart('.');
        JsonTypeInfo? info = typeInfo;
        JsonElement? value = element;
        foreach (Match segment in PathSegment().Matches(path))
        {
            if (segment.Groups["index"].Success)
            {
                var index = int.Parse(segment.Groups["index"].Value, System.Globalization.CultureInfo.InvariantCulture);
                info = info?.ElementType is { } elementType ? info.Options.GetTypeInfo(elementType) : null;
                value = value is { ValueKind: JsonValueKind.Array } array && index < array.GetArrayLength() ? array[index] : null;
            }
            else
            {
                var name = segment.Groups["name"].Value;
                info = info?.Properties.FirstOrDefault(p => p.Name == name) is { } property ? info.Options.GetTypeInfo(property.PropertyType) : null;
                value = value is { ValueKind: JsonValueKind.Object } parent && parent.TryGetProperty(name, out var child) ? child : null;
            }
        }
        var reason = info is null || value is null
            ? error.Message.Split(" Path:")[0]
            : $"expected {Expected(info)}, got {Found(value.Value)}";
        return path.Length == 0 ? reason : $"{path}: {reason}";
    }

    private static string Expected(JsonTypeInfo info)
    {
        var type = Nullable.GetUnderlyingType(info.Type) ?? info.Type;
        return type switch
        {
            _ when type == typeof(int) || type == typeof(long) => "an integer",
            _ when type == typeof(bool) => "true or false",
            _ when type == typeof(string) => "a string",
            _ when type == typeof(DateTime) => "a date-time",
            _ when type == typeof(Objects.IntOrString) || type == typeof(k8s.Models.IntOrString) => "a number or a name",
            _ => info.Kind switch
            {
                JsonTypeInfoKind.Enumerable => "a list",
                JsonTypeInfoKind.Dictionary => "an object of strings",
                _ => "an object",
            },
        };
    }

    private static string Found(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => $"'{value.GetString()}'",
        JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
        JsonValueKind.Array => "a list",
        JsonValueKind.Object => "an object",
        _ => "null",
    };

    private static (string? Namespace, string? Name, string? ResourceVersion) Identity(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty("metadata", out var metadata) || metadata.ValueKind != JsonValueKind.Object)
            return (null, null, null);
        return (StringField(metadata, "namespace"), StringField(metadata, "name"), StringField(metadata, "resourceVersion"));
    }

    private static string? StringField(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    [GeneratedRegex(@"(?<name>[^.\[\]]+)|\[(?<index>\d+)\]", RegexOptions.CultureInvariant)]
    private static partial Regex PathSegment();
}
