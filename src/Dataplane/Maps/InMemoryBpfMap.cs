namespace ProxyReplacement.Dataplane.Maps;

/// <summary>
/// A map held in process memory with the semantics of a BPF hash map the control plane relies
/// on: capacity limit (E2BIG when full), NOEXIST/EXIST update modes. For tests and dry runs.
/// </summary>
public sealed class InMemoryBpfMap<TKey, TValue> : IBpfMap<TKey, TValue>
    where TKey : unmanaged, IEquatable<TKey>
    where TValue : unmanaged
{
    private readonly Dictionary<TKey, TValue> _entries = new();
    private readonly Lock _gate = new();

    public InMemoryBpfMap(string name, int maxEntries)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxEntries, 1);
        Name = name;
        MaxEntries = maxEntries;
    }

    public string Name { get; }
    public int MaxEntries { get; }

    public int Count
    {
        get { lock (_gate) return _entries.Count; }
    }

    public bool TryLookup(in TKey key, out TValue value)
    {
        lock (_gate) return _entries.TryGetValue(key, out value);
    }

    public void Update(in TKey key, in TValue value, MapUpdateMode mode = MapUpdateMode.Any)
    {
        lock (_gate)
        {
            var exists = _entries.ContainsKey(key);
            if (mode == MapUpdateMode.NoExist && exists)
                throw new BpfException($"update of map {Name} failed: key exists", Errno.EEXIST);
            if (mode == MapUpdateMode.Exist && !exists)
                throw new BpfException($"update of map {Name} failed: no such key", Errno.ENOENT);
            if (!exists && _entries.Count >= MaxEntries)
                throw new BpfMapFullException(Name, MaxEntries);
            _entries[key] = value;
        }
    }

    public bool Delete(in TKey key)
    {
        lock (_gate) return _entries.Remove(key);
    }

    public IReadOnlyList<KeyValuePair<TKey, TValue>> ReadAll()
    {
        lock (_gate) return _entries.ToList();
    }
}
