namespace ProxyReplacement.Dataplane.Maps;

/// <summary>
/// A map held in process memory with the semantics of a BPF hash map the control plane relies
/// on: capacity limit (E2BIG when full), NOEXIST/EXIST update modes. For tests and dry runs.
/// <see cref="Array"/> makes one with the semantics of a BPF ARRAY instead: every slot exists from the start (zero),
/// an index beyond the size is E2BIG, a delete is EINVAL (an array cannot delete; "removing" is writing zero).
/// </summary>
public sealed class InMemoryBpfMap<TKey, TValue> : IBpfMap<TKey, TValue>
    where TKey : unmanaged, IEquatable<TKey>
    where TValue : unmanaged
{
    private readonly Dictionary<TKey, TValue> _entries = new();
    private readonly Lock _gate = new();
    private readonly bool _isArray;

    public InMemoryBpfMap(string name, int maxEntries)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxEntries, 1);
        Name = name;
        MaxEntries = maxEntries;
    }

    private InMemoryBpfMap(string name, int slots, bool isArray) : this(name, slots)
    {
        if (typeof(TKey) != typeof(uint))
            throw new ArgumentException($"an array is indexed by a u32 key, not {typeof(TKey).Name}");
        _isArray = isArray;
        for (var i = 0u; i < slots; i++)
            _entries[(TKey)(object)i] = default;
    }

    /// <summary>A BPF ARRAY of <paramref name="slots"/> zero entries (<typeparamref name="TKey"/> must be <see cref="uint"/>).</summary>
    public static InMemoryBpfMap<TKey, TValue> Array(string name, int slots) => new(name, slots, isArray: true);

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
            if (_isArray && !exists)
                throw new BpfException($"update of array {Name} failed: index {key} beyond its {MaxEntries} slots", Errno.E2BIG);
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
        if (_isArray)
            throw new BpfException($"delete from array {Name}: an array's slots cannot be deleted", Errno.EINVAL);
        lock (_gate) return _entries.Remove(key);
    }

    public IReadOnlyList<KeyValuePair<TKey, TValue>> ReadAll()
    {
        lock (_gate) return _entries.ToList();
    }
}
