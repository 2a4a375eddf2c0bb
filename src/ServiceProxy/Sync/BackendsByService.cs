using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// The backend map's entries grouped by service id, each group in ordinal order: what <see cref="BackendOrdinals"/>
/// needs for every Service of a rebuild, indexed with one sort of the whole map rather than a collection per id.
/// </summary>
internal sealed class BackendsByService
{
    private static readonly BackendsByService None = new([], []);

    private readonly KeyValuePair<NatBackendKey, NatBackendValue4>[] _entries;
    private readonly Dictionary<uint, (int Start, int Count)> _ranges;

    private BackendsByService(KeyValuePair<NatBackendKey, NatBackendValue4>[] entries, Dictionary<uint, (int Start, int Count)> ranges)
    {
        _entries = entries;
        _ranges = ranges;
    }

    public static BackendsByService Index(IReadOnlyDictionary<NatBackendKey, NatBackendValue4> backends)
    {
        if (backends.Count == 0)
            return None;
        var entries = new KeyValuePair<NatBackendKey, NatBackendValue4>[backends.Count];
        var order = new ulong[backends.Count];
        var i = 0;
        foreach (var pair in backends)
        {
            entries[i] = pair;
            order[i++] = MapOrder.Backend(pair.Key);
        }
        Array.Sort(order, entries);

        var ranges = new Dictionary<uint, (int Start, int Count)>();
        for (var start = 0; start < entries.Length;)
        {
            var id = entries[start].Key.ServiceId;
            var end = start + 1;
            while (end < entries.Length && entries[end].Key.ServiceId == id)
                end++;
            ranges[id] = (start, end - start);
            start = end;
        }
        return new BackendsByService(entries, ranges);
    }

    /// <summary>The entries of <paramref name="serviceId"/>, in ascending ordinal order (empty when it has none).</summary>
    public ReadOnlySpan<KeyValuePair<NatBackendKey, NatBackendValue4>> Of(uint serviceId) =>
        _ranges.TryGetValue(serviceId, out var range) ? _entries.AsSpan(range.Start, range.Count) : default;
}
