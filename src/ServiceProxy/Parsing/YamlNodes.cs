using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>
/// Typed reads of a YAML mapping with the field path in every error. JSON is read through the
/// same nodes (it is YAML flow style); a plain scalar <c>null</c>, <c>~</c> or empty value is absent.
/// </summary>
internal static class YamlNodes
{
    public static YamlNode? Field(this YamlMappingNode mapping, string key) =>
        mapping.Children.TryGetValue(new YamlScalarNode(key), out var node) && !IsNull(node) ? node : null;

    public static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any } scalar &&
        (scalar.Value is null or "" or "~" or "null" or "Null" or "NULL");

    public static YamlMappingNode? Mapping(this YamlMappingNode parent, string key, string path) =>
        parent.Field(key) switch
        {
            null => null,
            YamlMappingNode mapping => mapping,
            _ => throw new ObjectValidationException($"{path}: expected an object"),
        };

    public static IReadOnlyList<YamlNode> Sequence(this YamlMappingNode parent, string key, string path) =>
        parent.Field(key) switch
        {
            null => [],
            YamlSequenceNode sequence => sequence.Children.ToList(),
            _ => throw new ObjectValidationException($"{path}: expected a list"),
        };

    public static string? String(this YamlMappingNode parent, string key, string path) =>
        parent.Field(key) switch
        {
            null => null,
            YamlScalarNode scalar => scalar.Value,
            _ => throw new ObjectValidationException($"{path}: expected a string"),
        };

    public static int? Integer(this YamlMappingNode parent, string key, string path)
    {
        var node = parent.Field(key);
        if (node is null)
            return null;
        if (node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any } scalar &&
            int.TryParse(scalar.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            return value;
        throw new ObjectValidationException($"{path}: expected an integer, got {Describe(node)}");
    }

    public static bool? Boolean(this YamlMappingNode parent, string key, string path)
    {
        var node = parent.Field(key);
        if (node is null)
            return null;
        if (node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any } scalar)
        {
            switch (scalar.Value)
            {
                case "true" or "True" or "TRUE":
                    return true;
                case "false" or "False" or "FALSE":
                    return false;
            }
        }
        throw new ObjectValidationException($"{path}: expected true or false, got {Describe(node)}");
    }

    /// <summary>An int-or-string field: a plain integer scalar is a number, anything else a string.</summary>
    public static (int? Number, string? Text)? IntOrString(this YamlMappingNode parent, string key, string path)
    {
        var node = parent.Field(key);
        if (node is null)
            return null;
        if (node is not YamlScalarNode scalar)
            throw new ObjectValidationException($"{path}: expected a number or a name");
        if (scalar.Style is ScalarStyle.Plain or ScalarStyle.Any &&
            int.TryParse(scalar.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number))
            return (number, null);
        return (null, scalar.Value ?? "");
    }

    public static string Describe(YamlNode node) => node switch
    {
        YamlScalarNode scalar => $"'{scalar.Value}'",
        YamlSequenceNode => "a list",
        YamlMappingNode => "an object",
        _ => "an unknown node",
    };
}
