using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// Desired vs current NAT map contents -> the writes that turn one into the other, ordered make
/// before break: upsert backends, upsert frontends, delete frontends, delete backends. At every
/// point of that sequence each frontend's count covers only backends that are present: new
/// backends exist before a frontend counts them, and old ones go only after no frontend does.
/// Entries already equal are not written. Within each group the writes are in <see cref="MapOrder"/>.
/// </summary>
public static class MapDiff
{
    public static IReadOnlyList<MapWrite> Compute(NatMapContents desired, NatMapContents current)
    {
        var upsertBackends = Differing(desired.Backends, current.Backends);
        var upsertFrontends = Differing(desired.Frontends, current.Frontends);
        var deleteFrontends = Absent(current.Frontends, desired.Frontends);
        var deleteBackends = Absent(current.Backends, desired.Backends);

        var writes = new List<MapWrite>(upsertBackends.Count + upsertFrontends.Count + deleteFrontends.Count + deleteBackends.Count);
        foreach (var (key, value) in MapOrder.Ordered(upsertBackends, static pair => MapOrder.Backend(pair.Key)))
            writes.Add(new UpsertBackend(key, value));
        foreach (var (key, value) in MapOrder.Ordered(upsertFrontends, static pair => MapOrder.Frontend(pair.Key)))
            writes.Add(new UpsertFrontend(key, value));
        foreach (var (key, value) in MapOrder.Ordered(deleteFrontends, static pair => MapOrder.Frontend(pair.Key)))
            writes.Add(new DeleteFrontend(key, value.ServiceId));
        // Highest ordinal first, so a half-done deletion still leaves a dense prefix.
        foreach (var (key, _) in MapOrder.Ordered(deleteBackends, static pair => MapOrder.BackendHighestFirst(pair.Key)))
            writes.Add(new DeleteBackend(key));
        return writes;
    }

    /// <summary>The entries of <paramref name="wanted"/> that <paramref name="existing"/> lacks or holds with another value.</summary>
    private static List<KeyValuePair<TKey, TValue>> Differing<TKey, TValue>(Dictionary<TKey, TValue> wanted, Dictionary<TKey, TValue> existing)
        where TKey : notnull
        where TValue : IEquatable<TValue>
    {
        var differing = new List<KeyValuePair<TKey, TValue>>(existing.Count == 0 ? wanted.Count : 0);
        foreach (var pair in wanted)
            if (!existing.TryGetValue(pair.Key, out var value) || !value.Equals(pair.Value))
                differing.Add(pair);
        return differing;
    }

    /// <summary>The entries of <paramref name="existing"/> whose keys <paramref name="wanted"/> lacks.</summary>
    private static List<KeyValuePair<TKey, TValue>> Absent<TKey, TValue>(Dictionary<TKey, TValue> existing, Dictionary<TKey, TValue> wanted)
        where TKey : notnull
    {
        var absent = new List<KeyValuePair<TKey, TValue>>();
        foreach (var pair in existing)
            if (!wanted.ContainsKey(pair.Key))
                absent.Add(pair);
        return absent;
    }
}
