using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Maps;

namespace ProxyReplacement.ServiceProxy.Tests.Support;

/// <summary>
/// An <see cref="IBpfMap{TKey,TValue}"/> over an <see cref="InMemoryBpfMap{TKey,TValue}"/> that can
/// fail chosen writes (fault injection) and calls back after every write that reached the map.
/// </summary>
public sealed class ObservedMap<TKey, TValue>(InMemoryBpfMap<TKey, TValue> inner) : IBpfMap<TKey, TValue>
    where TKey : unmanaged, IEquatable<TKey>
    where TValue : unmanaged
{
    public InMemoryBpfMap<TKey, TValue> Inner => inner;

    /// <summary>Called with the key (and value, null for a delete) after each write that succeeded.</summary>
    public Action<TKey, TValue?>? AfterWrite { get; set; }

    /// <summary>Writes for which this returns true throw <see cref="BpfMapFullException"/> instead.</summary>
    public Func<TKey, bool>? FailWrite { get; set; }

    public string Name => inner.Name;
    public int MaxEntries => inner.MaxEntries;

    public bool TryLookup(in TKey key, out TValue value) => inner.TryLookup(key, out value);

    public void Update(in TKey key, in TValue value, MapUpdateMode mode = MapUpdateMode.Any)
    {
        if (FailWrite?.Invoke(key) == true)
            throw new BpfMapFullException(inner.Name, inner.MaxEntries);
        inner.Update(key, value, mode);
        AfterWrite?.Invoke(key, value);
    }

    public bool Delete(in TKey key)
    {
        if (FailWrite?.Invoke(key) == true)
            throw new BpfException($"delete from map {inner.Name} failed (injected)", Errno.EINVAL);
        var deleted = inner.Delete(key);
        AfterWrite?.Invoke(key, null);
        return deleted;
    }

    public IReadOnlyList<KeyValuePair<TKey, TValue>> ReadAll() => inner.ReadAll();
}
