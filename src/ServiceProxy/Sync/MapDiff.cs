using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// Desired vs current NAT map contents -> the writes that turn one into the other, ordered make
/// before break: upsert backends, upsert frontends, delete frontends, delete backends. At every
/// point of that sequence each frontend's count covers only backends that are present: new
/// backends exist before a frontend counts them, and old ones go only after no frontend does.
/// Entries already equal are not written.
/// </summary>
public static class MapDiff
{
    public static IReadOnlyList<MapWrite> Compute(NatMapContents desired, NatMapContents current)
    {
        var writes = new List<MapWrite>();

        writes.AddRange(desired.Backends
            .Where(pair => !current.Backends.TryGetValue(pair.Key, out var existing) || existing != pair.Value)
            .OrderBy(pair => pair.Key.ServiceId).ThenBy(pair => pair.Key.Ordinal)
            .Select(pair => new UpsertBackend(pair.Key, pair.Value)));

        writes.AddRange(desired.Frontends
            .Where(pair => !current.Frontends.TryGetValue(pair.Key, out var existing) || existing != pair.Value)
            .OrderBy(pair => pair.Key, FrontendKeyOrder.Instance)
            .Select(pair => new UpsertFrontend(pair.Key, pair.Value)));

        writes.AddRange(current.Frontends
            .Where(pair => !desired.Frontends.ContainsKey(pair.Key))
            .OrderBy(pair => pair.Key, FrontendKeyOrder.Instance)
            .Select(pair => new DeleteFrontend(pair.Key, pair.Value.ServiceId)));

        // Highest ordinal first, so a half-done deletion still leaves a dense prefix.
        writes.AddRange(current.Backends.Keys
            .Where(key => !desired.Backends.ContainsKey(key))
            .OrderBy(key => key.ServiceId).ThenByDescending(key => key.Ordinal)
            .Select(key => new DeleteBackend(key)));

        return writes;
    }
}
