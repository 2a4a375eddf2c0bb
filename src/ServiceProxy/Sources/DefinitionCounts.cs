using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Sources;

/// <summary>
/// How many times each object key is defined across the files of a manifest directory. Nearly every key is defined
/// once, so the keys are held in a set and a count only for the few defined more than once: a count per key was a
/// 32-byte entry, 5 MB per kind at 100k objects, against 24 bytes here (and sized once, not grown by doubling).
/// </summary>
internal sealed class DefinitionCounts
{
    private readonly HashSet<ObjectKey> _defined;
    /// <summary>The keys defined twice or more, with their count.</summary>
    private readonly Dictionary<ObjectKey, int> _repeated = [];

    public DefinitionCounts(int capacity = 0) => _defined = new HashSet<ObjectKey>(capacity);

    /// <summary>Distinct keys defined.</summary>
    public int Count => _defined.Count;

    /// <summary>Counts a definition of <paramref name="key"/>; true for its first.</summary>
    public bool Define(ObjectKey key)
    {
        if (_defined.Add(key))
            return true;
        _repeated[key] = _repeated.GetValueOrDefault(key, 1) + 1;
        return false;
    }

    public int CountOf(ObjectKey key) => _repeated.TryGetValue(key, out var count) ? count : _defined.Contains(key) ? 1 : 0;

    public bool Contains(ObjectKey key) => _defined.Contains(key);

    /// <summary>Makes <paramref name="key"/> defined exactly once.</summary>
    public void SetOnce(ObjectKey key)
    {
        _defined.Add(key);
        _repeated.Remove(key);
    }

    /// <summary>Makes <paramref name="key"/> defined nowhere.</summary>
    public void Remove(ObjectKey key)
    {
        _defined.Remove(key);
        _repeated.Remove(key);
    }
}
