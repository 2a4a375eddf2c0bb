using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Tracking;

/// <summary>
/// Committed state plus pending {previous, current} changes for one kind of object. An update
/// equal to the newest state is a no-op; a series of updates that ends where it started leaves
/// nothing pending. Not thread-safe: <see cref="ChangeTracker"/> serialises access.
/// </summary>
internal sealed class ObjectChangeTracker<T> where T : class
{
    private readonly Dictionary<ObjectKey, T> _committed = [];
    private readonly Dictionary<ObjectKey, ObjectChange<T>> _pending = [];

    public bool HasPending => _pending.Count > 0;
    public int PendingCount => _pending.Count;

    /// <summary>Updates that changed the newest state (kube-proxy's <c>..._changes_total</c>).</summary>
    public long Changes { get; private set; }
    public IReadOnlyCollection<T> Committed => _committed.Values;
    public IReadOnlyList<ObjectChange<T>> Pending => _pending.Values.OrderBy(change => change.Key).ToList();

    /// <summary>Records <paramref name="value"/> (null = deleted) as the newest state; false when that is already the newest state.</summary>
    public bool Set(ObjectKey key, T? value)
    {
        if (!SetCore(key, value))
            return false;
        Changes++;
        return true;
    }

    private bool SetCore(ObjectKey key, T? value)
    {
        // A pending change already carries the committed state, so a key is looked up as few times as possible
        // (a relist sets every object).
        if (_pending.TryGetValue(key, out var pending))
        {
            if (Equals(pending.Current, value))
                return false;
            if (Equals(pending.Previous, value))
                _pending.Remove(key); // back to the committed state: nothing left to do
            else
                _pending[key] = pending with { Current = value };
            return true;
        }
        var committed = _committed.GetValueOrDefault(key);
        if (Equals(committed, value))
            return false;
        _pending.Add(key, new ObjectChange<T>(key, committed, value));
        return true;
    }

    /// <summary>Makes <paramref name="all"/> the complete newest state: absent keys become deletions.</summary>
    /// <param name="changed">Called with each listed value that changed the newest state.</param>
    public bool Replace(IEnumerable<T> all, Func<T, ObjectKey> keyOf, Action<T>? changed = null)
    {
        var anyChanged = false;
        // Only keys known before can go missing: on the first load there is nothing to track.
        var known = _committed.Count > 0 || _pending.Count > 0;
        all.TryGetNonEnumeratedCount(out var count); // 0 when unknown
        var present = known ? new HashSet<ObjectKey>(count) : null;
        if (count > _pending.Count)
            _pending.EnsureCapacity(count); // a relist may change everything
        foreach (var value in all)
        {
            var key = keyOf(value);
            present?.Add(key);
            if (Set(key, value))
            {
                anyChanged = true;
                changed?.Invoke(value);
            }
        }
        if (present is null)
            return anyChanged;
        // The newest state's keys are the committed ones and the pending ones (a pending key may be new).
        List<ObjectKey>? absent = null;
        foreach (var key in _committed.Keys)
            if (!present.Contains(key))
                (absent ??= []).Add(key);
        foreach (var key in _pending.Keys)
            if (!_committed.ContainsKey(key) && !present.Contains(key))
                (absent ??= []).Add(key);
        if (absent is not null)
            foreach (var key in absent)
                anyChanged |= Set(key, null);
        return anyChanged;
    }

    /// <summary>Applies the pending changes; returns them in no particular order (sorting 100k keys costs more than the rest).</summary>
    public IReadOnlyList<ObjectChange<T>> Commit()
    {
        var changes = _pending.Values.ToList();
        if (changes.Count > 1024) // a bulk load; for a few, EnsureCapacity's 1.2× growth would rehash more often than adding does
            _committed.EnsureCapacity(_committed.Count + changes.Count);
        foreach (var change in changes)
        {
            if (change.Current is null)
                _committed.Remove(change.Key);
            else
                _committed[change.Key] = change.Current;
        }
        _pending.Clear();
        if (changes.Count > 1024)
            _pending.TrimExcess(); // a bulk load's capacity (3.5 MB of buckets at 100k objects) would otherwise stay for good
        return changes;
    }
}
