using System.Text.Json.Nodes;

namespace ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi;

/// <summary>
/// The equality-based label selectors of the API (<c>a=b</c>, <c>a==b</c>, <c>a!=b</c>, <c>a</c>, <c>!a</c>,
/// comma-separated: all must hold), so the fake server filters like a real one.
/// </summary>
public sealed class LabelSelector
{
    private readonly List<Func<IReadOnlyDictionary<string, string>, bool>> _requirements = [];

    public static readonly LabelSelector Everything = new("");

    public LabelSelector(string? text)
    {
        Text = text ?? "";
        foreach (var raw in Text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (raw.StartsWith('!'))
            {
                var key = raw[1..];
                _requirements.Add(labels => !labels.ContainsKey(key));
            }
            else if (raw.Split("!=") is [var notKey, var notValue])
            {
                _requirements.Add(labels => !labels.TryGetValue(notKey, out var v) || v != notValue);
            }
            else if (raw.Replace("==", "=").Split('=') is [var eqKey, var eqValue])
            {
                _requirements.Add(labels => labels.TryGetValue(eqKey, out var v) && v == eqValue);
            }
            else
            {
                _requirements.Add(labels => labels.ContainsKey(raw));
            }
        }
    }

    public string Text { get; }

    public bool Matches(JsonObject? item) => item is not null && _requirements.All(requirement => requirement(LabelsOf(item)));

    public static IReadOnlyDictionary<string, string> LabelsOf(JsonObject item) =>
        item["metadata"]?["labels"] is JsonObject labels
            ? labels.Where(pair => pair.Value is JsonValue).ToDictionary(pair => pair.Key, pair => pair.Value!.ToString())
            : new Dictionary<string, string>();
}
