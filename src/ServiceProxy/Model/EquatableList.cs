using System.Collections;
using System.Collections.Immutable;

namespace ProxyReplacement.ServiceProxy.Model;

/// <summary>
/// An immutable list with value equality, so records holding lists compare by content: the
/// change tracker relies on that to drop no-op updates.
/// </summary>
public sealed class EquatableList<T> : IReadOnlyList<T>, IEquatable<EquatableList<T>>
{
    public static readonly EquatableList<T> Empty = new(ImmutableArray<T>.Empty);

    private readonly ImmutableArray<T> _items;

    public EquatableList(IEnumerable<T> items) => _items = items.ToImmutableArray();

    private EquatableList(ImmutableArray<T> items) => _items = items;

    internal static EquatableList<T> Of(ImmutableArray<T> items) => items.IsEmpty ? Empty : new(items);

    public T this[int index] => _items[index];
    public int Count => _items.Length;

    public bool Equals(EquatableList<T>? other) =>
        other is not null && _items.AsSpan().SequenceEqual(other._items.AsSpan(), EqualityComparer<T>.Default);

    public override bool Equals(object? obj) => Equals(obj as EquatableList<T>);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var item in _items)
            hash.Add(item);
        return hash.ToHashCode();
    }

    /// <summary>A struct enumerator, so <c>foreach</c> over a list allocates nothing (the sync loops run it per Service).</summary>
    public ImmutableArray<T>.Enumerator GetEnumerator() => _items.GetEnumerator();
    IEnumerator<T> IEnumerable<T>.GetEnumerator() => ((IEnumerable<T>)_items).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => ((IEnumerable)_items).GetEnumerator();

    public override string ToString() => $"[{string.Join(", ", _items)}]";
}

public static class EquatableList
{
    public static EquatableList<T> From<T>(params IEnumerable<T> items) => items.ToEquatableList();

    /// <summary>An empty sequence gives the shared <see cref="EquatableList{T}.Empty"/> (most optional lists of most objects are empty).</summary>
    public static EquatableList<T> ToEquatableList<T>(this IEnumerable<T> items) => EquatableList<T>.Of(items.ToImmutableArray());
}
