using System.Collections.Concurrent;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>
/// One instance for each of a small set of immutable values that many objects repeat. At 100k Services most
/// namespaces, port names, node names, zones and port lists are the same few values; parsed naively each object
/// holds its own copies (about 100 MB of duplicates at 100k Services × 4 endpoints). Sharing them changes no
/// equality: every pooled type is immutable and compares by value.
/// Bounded: once <see cref="Capacity"/> distinct values are held, new values are returned as they are (still
/// correct, just not shared), so a cluster with unusually many distinct values cannot grow the pool without end.
/// Thread-safe: the sources parse on several threads.
/// </summary>
internal sealed class ValuePool<T>(int capacity) where T : notnull
{
    private readonly ConcurrentDictionary<T, T> _values = new();

    public int Capacity { get; } = capacity;

    public int Count => _values.Count;

    /// <summary>The pooled instance equal to <paramref name="value"/>, or <paramref name="value"/> itself (now pooled if there was room).</summary>
    public T Share(T value)
    {
        if (_values.TryGetValue(value, out var shared))
            return shared;
        return _values.Count < Capacity ? _values.GetOrAdd(value, value) : value;
    }
}

/// <summary>The pools the parsing rules share values through (both the manifest and the API path go through the rules).</summary>
internal static class SharedValues
{
    /// <summary>Namespaces, node names, zones, port names, hint names: short strings that repeat across objects.</summary>
    public static readonly ValuePool<string> Strings = new(16_384);

    public static readonly ValuePool<ServicePort> ServicePorts = new(4_096);
    public static readonly ValuePool<EquatableList<ServicePort>> ServicePortLists = new(4_096);
    public static readonly ValuePool<EndpointPort> EndpointPorts = new(4_096);
    public static readonly ValuePool<EquatableList<EndpointPort>> EndpointPortLists = new(4_096);

    public static string? Share(string? text) => text is null ? null : Strings.Share(text);
}
