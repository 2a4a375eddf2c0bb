namespace ProxyReplacement.Dataplane.Maps;

/// <summary>How an update treats an existing or missing key (BPF_ANY / BPF_NOEXIST / BPF_EXIST).</summary>
public enum MapUpdateMode : ulong
{
    Any = 0,
    NoExist = 1,
    Exist = 2,
}

/// <summary>
/// The small map interface the control plane writes through. Real BPF maps implement it in
/// production (<see cref="BpfMap{TKey,TValue}"/>), <see cref="InMemoryBpfMap{TKey,TValue}"/> in tests.
/// Keys and values are the blittable mirrors of the C structs in <c>ProxyReplacement.Dataplane.Abi</c>.
/// </summary>
public interface IBpfMap<TKey, TValue>
    where TKey : unmanaged, IEquatable<TKey>
    where TValue : unmanaged
{
    /// <summary>The kernel map name (e.g. <c>pr_nat_fe4</c>).</summary>
    string Name { get; }

    /// <summary>The map's capacity.</summary>
    int MaxEntries { get; }

    bool TryLookup(in TKey key, out TValue value);

    /// <summary>Writes one entry. Throws <see cref="BpfMapFullException"/> when the map is full.</summary>
    void Update(in TKey key, in TValue value, MapUpdateMode mode = MapUpdateMode.Any);

    /// <summary>Deletes one entry; false when the key was absent.</summary>
    bool Delete(in TKey key);

    /// <summary>A snapshot of every entry (order unspecified).</summary>
    IReadOnlyList<KeyValuePair<TKey, TValue>> ReadAll();

    /// <summary>
    /// The entries of a snapshot that <paramref name="keep"/> accepts, without holding the others: an array's empty slots
    /// (pr_nat_direct4's 262,144, mostly zero) are read and dropped batch by batch instead of kept in one 18 MB list.
    /// </summary>
    IReadOnlyList<KeyValuePair<TKey, TValue>> ReadWhere(Func<TKey, TValue, bool> keep) =>
        ReadAll().Where(entry => keep(entry.Key, entry.Value)).ToList();

    /// <summary>Writes many entries; real maps use BPF_MAP_UPDATE_BATCH where the kernel has it.</summary>
    void UpdateBatch(ReadOnlySpan<TKey> keys, ReadOnlySpan<TValue> values)
    {
        if (keys.Length != values.Length)
            throw new ArgumentException("keys and values differ in length");
        for (var i = 0; i < keys.Length; i++)
            Update(keys[i], values[i]);
    }

    /// <summary>Deletes many entries, ignoring absent ones; returns how many were deleted.</summary>
    int DeleteBatch(ReadOnlySpan<TKey> keys)
    {
        var deleted = 0;
        foreach (var key in keys)
            if (Delete(key))
                deleted++;
        return deleted;
    }
}
