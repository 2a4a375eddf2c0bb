using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Maps;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// A map the Syncer keeps in step with the service ids besides the NAT maps (the LoadBalancer source ranges, the
/// service names): the desired entries come from a full rebuild (or, for the Services an incremental pass rebuilt, its
/// delta: <see cref="Delete"/> removes what they no longer want), writes go in two halves so that the NAT writes can
/// sit between them (make before break: what a new frontend needs exists before it, what an old one needed goes
/// after it). Its view of the map is re-read on full resyncs (drift repaired) and kept otherwise.
/// A failed write is reported and retried by the next full sync.
/// The view keeps what <paramref name="seen"/> makes of each value (<typeparamref name="TSeen"/>), enough to tell
/// whether a desired value is already in the map: the value itself (<see cref="SideMap{TKey, TValue}"/>) or, for
/// large values, a digest (<see cref="ServiceNameDigest"/>: 100k service names are 25 MB as values, 3 MB as digests).
/// </summary>
public class SideMap<TKey, TValue, TSeen>(IBpfMap<TKey, TValue> map, Func<TValue, TSeen> seen)
    where TKey : unmanaged, IEquatable<TKey>
    where TValue : unmanaged, IEquatable<TValue>
    where TSeen : IEquatable<TSeen>
{
    private readonly IBpfMap<TKey, TValue> _map = map;
    private protected Dictionary<TKey, TSeen>? _view;

    /// <summary>
    /// Writes the desired entries that are missing or differ; <paramref name="reread"/> reads the map first. Returns the
    /// keys whose write failed (empty when all went in).
    /// </summary>
    public List<TKey> AddAndChange(IReadOnlyDictionary<TKey, TValue> desired, bool reread, List<SyncProblem> problems)
    {
        var failed = new List<TKey>();
        if (reread || _view is null)
            _view = _map.ReadAll().ToDictionary(entry => entry.Key, entry => seen(entry.Value));
        // Room for every desired entry at once: grown by doubling as a first sync adds them, the view of 100k names kept
        // half its entries' worth of slack (1.8 MB).
        _view.EnsureCapacity(desired.Count);
        foreach (var (key, value) in desired)
        {
            var wanted = seen(value);
            if (_view.TryGetValue(key, out var existing) && existing.Equals(wanted))
                continue;
            try
            {
                _map.Update(key, value);
                _view[key] = wanted;
                Writes++;
            }
            catch (BpfException error)
            {
                failed.Add(key);
                problems.Add(new SyncProblem(SyncProblemKind.WriteFailed, $"{_map.Name}: writing {key}: {error.Message}", Error: error));
            }
        }
        return failed;
    }

    /// <summary>Deletes the entries that are not desired, except those <paramref name="stillNeeded"/> says a live entry elsewhere still uses.</summary>
    public void DeleteOthers(IReadOnlyDictionary<TKey, TValue> desired, List<SyncProblem> problems, Func<TKey, bool>? stillNeeded = null)
    {
        if (_view is null)
            return;
        foreach (var key in _view.Keys.Where(key => !desired.ContainsKey(key)).ToList())
        {
            if (stillNeeded?.Invoke(key) == true)
            {
                problems.Add(new SyncProblem(SyncProblemKind.Deferred, $"{_map.Name}: {key} kept: a frontend in the map still uses it"));
                continue;
            }
            DeleteOne(key, problems);
        }
    }

    /// <summary>
    /// Deletes the given entries that the view holds (the stale entries of an incremental pass), except those
    /// <paramref name="stillNeeded"/> says a live entry elsewhere still uses.
    /// </summary>
    public void Delete(IEnumerable<TKey> keys, List<SyncProblem> problems, Func<TKey, bool>? stillNeeded = null)
    {
        if (_view is null)
            return;
        foreach (var key in keys)
        {
            if (!_view.ContainsKey(key))
                continue;
            if (stillNeeded?.Invoke(key) == true)
            {
                problems.Add(new SyncProblem(SyncProblemKind.Deferred, $"{_map.Name}: {key} kept: a frontend in the map still uses it"));
                continue;
            }
            DeleteOne(key, problems);
        }
    }

    private void DeleteOne(TKey key, List<SyncProblem> problems)
    {
        try
        {
            _map.Delete(key);
            _view!.Remove(key);
            Writes++;
        }
        catch (BpfException error)
        {
            problems.Add(new SyncProblem(SyncProblemKind.WriteFailed, $"{_map.Name}: deleting {key}: {error.Message}", Error: error));
        }
    }

    /// <summary>
    /// How many entries of the map, read now, differ from <paramref name="desired"/> (missing, different or extra). Reads
    /// the map and nothing else: safe beside the sync thread (<see cref="DriftCheck"/>).
    /// </summary>
    public int Differences(IReadOnlyDictionary<TKey, TValue> desired)
    {
        var differences = 0;
        var both = 0;
        foreach (var (key, value) in _map.ReadAll())
        {
            if (!desired.TryGetValue(key, out var wanted))
            {
                differences++; // extra
                continue;
            }
            both++;
            if (!wanted.Equals(value)) // the map holds whole values: no need for the view's projection
                differences++; // different
        }
        return differences + desired.Count - both; // + missing
    }

    /// <summary>Writes (updates and deletes) that reached the map so far.</summary>
    public long Writes { get; private set; }

}

/// <summary>A <see cref="SideMap{TKey, TValue, TSeen}"/> whose view holds the values themselves.</summary>
public sealed class SideMap<TKey, TValue>(IBpfMap<TKey, TValue> map) : SideMap<TKey, TValue, TValue>(map, value => value)
    where TKey : unmanaged, IEquatable<TKey>
    where TValue : unmanaged, IEquatable<TValue>
{
    /// <summary>The entries as last written or read.</summary>
    public IReadOnlyDictionary<TKey, TValue> View => _view ?? new Dictionary<TKey, TValue>();
}
