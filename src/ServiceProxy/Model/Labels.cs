using System.Collections;
using System.Collections.Immutable;

namespace ProxyReplacement.ServiceProxy.Model;

/// <summary>Object labels: an immutable, ordinally sorted string map with value equality.</summary>
public sealed class Labels : IReadOnlyDictionary<string, string>, IEquatable<Labels>
{
    public static readonly Labels Empty = new(ImmutableSortedDictionary<string, string>.Empty);

    private readonly ImmutableSortedDictionary<string, string> _map;

    private Labels(ImmutableSortedDictionary<string, string> map) => _map = map;

    public static Labels From(IEnumerable<KeyValuePair<string, string>> pairs) =>
        new(pairs.ToImmutableSortedDictionary(StringComparer.Ordinal));

    public string this[string key] => _map[key];
    public IEnumerable<string> Keys => _map.Keys;
    public IEnumerable<string> Values => _map.Values;
    public int Count => _map.Count;
    public bool ContainsKey(string key) => _map.ContainsKey(key);
    public bool TryGetValue(string key, out string value) => _map.TryGetValue(key, out value!);

    public bool Equals(Labels? other) =>
        other is not null && _map.Count == other._map.Count &&
        _map.All(pair => other._map.TryGetValue(pair.Key, out var value) && value == pair.Value);

    public override bool Equals(object? obj) => Equals(obj as Labels);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var (key, value) in _map)
        {
            hash.Add(key);
            hash.Add(value);
        }
        return hash.ToHashCode();
    }

    public IEnumerator<KeyValuePair<string, string>> GetEnumerator() => _map.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => string.Join(",", _map.Select(pair => $"{pair.Key}={pair.Value}"));
}
