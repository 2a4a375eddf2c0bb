using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using ProxyReplacement.ServiceProxy.Kubernetes.Api;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>
/// A YAML object read as the JSON the API would send, then decoded as the package's model (<c>V1Pod</c>,
/// <c>V1NetworkPolicy</c>, ...) with the package's JSON settings: the manifest source and the API source then hand the
/// same records to the same rules. Plain scalars are typed as YAML 1.2's core schema does (integers, true/false, null);
/// quoted scalars stay strings. A shape error names the field, as the API decoder's does.
/// </summary>
internal static class YamlAsJson
{
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Serializes a JsonNode tree, whose converter System.Text.Json always keeps; the model type is decoded through the package's own type info")]
    public static TModel Decode<TModel>(YamlMappingNode root) where TModel : class
    {
        var typeInfo = (JsonTypeInfo<TModel>)PackageJson.Options.GetTypeInfo(typeof(TModel));
        var element = JsonSerializer.SerializeToElement(ToJson(root));
        try
        {
            return element.Deserialize(typeInfo) ?? throw new ObjectValidationException("the object is null");
        }
        catch (JsonException error)
        {
            throw new ObjectValidationException(ItemDecoder.Describe(error, element, typeInfo));
        }
        catch (NotSupportedException error)
        {
            throw new ObjectValidationException(ItemDecoder.Describe(error));
        }
    }

    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode mapping => new JsonObject(mapping.Children
            .Where(pair => pair.Key is YamlScalarNode)
            .Select(pair => KeyValuePair.Create(((YamlScalarNode)pair.Key).Value ?? "", ToJson(pair.Value)))),
        YamlSequenceNode sequence => new JsonArray(sequence.Children.Select(ToJson).ToArray()),
        YamlScalarNode scalar => Scalar(scalar),
        _ => null,
    };

    private static JsonNode? Scalar(YamlScalarNode scalar)
    {
        var text = scalar.Value ?? "";
        if (scalar.Style is not (ScalarStyle.Plain or ScalarStyle.Any))
            return JsonValue.Create(text);
        if (YamlNodes.IsNull(scalar))
            return null;
        if (text is "true" or "True" or "TRUE")
            return JsonValue.Create(true);
        if (text is "false" or "False" or "FALSE")
            return JsonValue.Create(false);
        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number))
            return JsonValue.Create(number);
        return JsonValue.Create(text);
    }
}
