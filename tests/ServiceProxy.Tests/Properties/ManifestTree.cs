using System.Text;
using System.Text.Json;

namespace ProxyReplacement.ServiceProxy.Tests.Properties;

/// <summary>What a scalar of a generated manifest means, so a mutation can pick a value that breaks exactly that rule.</summary>
public enum LeafKind
{
    Text,
    Name,
    Ip,
    Cidr,
    Port,
    /// <summary>nodePort, healthCheckNodePort: 0 means "not set".</summary>
    OptionalPort,
    Timeout,
    PortName,
    Enum,
    Bool,
}

/// <summary>
/// A manifest as a tree, independent of YamlDotNet: maps keep their order, scalars say whether they are written
/// plain (numbers, booleans) or quoted (strings), and what they mean (<see cref="LeafKind"/>). Written out as
/// block YAML or as JSON, so the same object can go through the manifest reader and the API decoder.
/// </summary>
public abstract record MNode
{
    public static MMap Map(params (string Key, MNode? Value)[] entries) =>
        new(entries.Where(e => e.Value is not null).Select(e => (e.Key, e.Value!)).ToList());

    public static MSeq Seq(IEnumerable<MNode> items) => new(items.ToList());

    public static MScalar Str(string text, LeafKind kind = LeafKind.Text) => new(text, false, kind);

    public static MScalar Num(long value, LeafKind kind) => new(value.ToString(System.Globalization.CultureInfo.InvariantCulture), true, kind);

    public static MScalar Bool(bool value) => new(value ? "true" : "false", true, LeafKind.Bool);
}

public sealed record MMap(List<(string Key, MNode Value)> Entries) : MNode
{
    public MNode? this[string key] => Entries.FirstOrDefault(e => e.Key == key).Value;
}

public sealed record MSeq(List<MNode> Items) : MNode;

/// <param name="Plain">Written unquoted (numbers, booleans); strings are always quoted, so "80" stays a string.</param>
public sealed record MScalar(string Text, bool Plain, LeafKind Kind) : MNode;

/// <summary>A node of a tree with its field path, written as the parsers write paths (<c>spec.ports[0].port</c>).</summary>
public sealed record MPath(string Path, MNode Node, IReadOnlyList<object> Steps, string? EnumOf = null);

public static class ManifestText
{
    public static string Json(MNode node)
    {
        var text = new StringBuilder();
        WriteJson(node, text);
        return text.ToString();
    }

    private static void WriteJson(MNode node, StringBuilder text)
    {
        switch (node)
        {
            case MMap map:
                text.Append('{');
                for (var i = 0; i < map.Entries.Count; i++)
                {
                    if (i > 0)
                        text.Append(", ");
                    text.Append(JsonSerializer.Serialize(map.Entries[i].Key)).Append(": ");
                    WriteJson(map.Entries[i].Value, text);
                }
                text.Append('}');
                break;
            case MSeq seq:
                text.Append('[');
                for (var i = 0; i < seq.Items.Count; i++)
                {
                    if (i > 0)
                        text.Append(", ");
                    WriteJson(seq.Items[i], text);
                }
                text.Append(']');
                break;
            case MScalar scalar:
                text.Append(scalar.Plain ? scalar.Text : JsonSerializer.Serialize(scalar.Text));
                break;
        }
    }

    /// <summary>Block YAML: maps and sequences of the top levels in block style, deeper containers in flow (JSON) style.</summary>
    public static string Yaml(MMap root)
    {
        var text = new StringBuilder();
        WriteYamlMap(root, 0, text);
        return text.ToString();
    }

    private static void WriteYamlMap(MMap map, int indent, StringBuilder text)
    {
        foreach (var (key, value) in map.Entries)
        {
            text.Append(' ', indent).Append(JsonSerializer.Serialize(key)).Append(':');
            switch (value)
            {
                case MMap { Entries.Count: > 0 } child when indent < 6:
                    text.Append('\n');
                    WriteYamlMap(child, indent + 2, text);
                    break;
                case MSeq { Items.Count: > 0 } seq when indent < 6:
                    text.Append('\n');
                    foreach (var item in seq.Items)
                    {
                        text.Append(' ', indent + 2).Append("- ");
                        WriteJson(item, text);
                        text.Append('\n');
                    }
                    break;
                default:
                    text.Append(' ');
                    WriteJson(value, text);
                    text.Append('\n');
                    break;
            }
        }
    }

    /// <summary>Every node under <paramref name="root"/> with its path (the root itself excluded).</summary>
    public static IEnumerable<MPath> Walk(MNode root)
    {
        var found = new List<MPath>();
        Walk(root, "", [], found);
        return found;
    }

    private static void Walk(MNode node, string path, List<object> steps, List<MPath> found)
    {
        switch (node)
        {
            case MMap map:
                foreach (var (key, value) in map.Entries)
                {
                    var childPath = path.Length == 0 ? key : $"{path}.{key}";
                    var childSteps = new List<object>(steps) { key };
                    found.Add(new MPath(childPath, value, childSteps));
                    Walk(value, childPath, childSteps, found);
                }
                break;
            case MSeq seq:
                for (var i = 0; i < seq.Items.Count; i++)
                {
                    var childPath = $"{path}[{i}]";
                    var childSteps = new List<object>(steps) { i };
                    found.Add(new MPath(childPath, seq.Items[i], childSteps));
                    Walk(seq.Items[i], childPath, childSteps, found);
                }
                break;
        }
    }

    /// <summary>A copy of <paramref name="root"/> with the node at <paramref name="steps"/> replaced (null: removed).</summary>
    public static MNode Replace(MNode root, IReadOnlyList<object> steps, MNode? replacement, int depth = 0)
    {
        if (depth == steps.Count)
            return replacement!;
        switch (root, steps[depth])
        {
            case (MMap map, string key):
                var entries = new List<(string, MNode)>();
                foreach (var (k, v) in map.Entries)
                {
                    if (k != key)
                        entries.Add((k, v));
                    else if (depth + 1 < steps.Count || replacement is not null)
                        entries.Add((k, Replace(v, steps, replacement, depth + 1)));
                }
                return new MMap(entries);
            case (MSeq seq, int index):
                var items = new List<MNode>();
                for (var i = 0; i < seq.Items.Count; i++)
                {
                    if (i != index)
                        items.Add(seq.Items[i]);
                    else if (depth + 1 < steps.Count || replacement is not null)
                        items.Add(Replace(seq.Items[i], steps, replacement, depth + 1));
                }
                return new MSeq(items);
            default:
                throw new InvalidOperationException($"path step {steps[depth]} does not fit {root.GetType().Name}");
        }
    }
}
