using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Maps;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// A map the Syncer keeps in step with the service ids besides the NAT maps (the LoadBalancer source ranges, the
/// service names): the desired entries come from a full rebuild, writes go in two halves so that the NAT writes can
/// sit between them (make before break: what a new frontend needs exists before it, what an old one needed goes
/// after it). Its view of the map is re-read on full resyncs (drift repaired) and kept otherwise.
/// A failed write is reported and retried by the next full sync.
/// </summary>
public sealed class SideMap<TKey, TValue>
    where TKey : unmanaged, IEquatable<TKey>
    where TValue : unmanaged, IEquatable<TValue>
{
    private readonly IBpfMap<TKey, TValue> _map;
    private Dictionary<TKey, TValue>? _view;

    public SideMap(IBpfMap<TKey, TValue> map) => _map = map;

    /// <summary>Writes the desired entries that are missing or differ; <paramref name="reread"/> reads the map first.</summary>
    public void AddAndChange(IReadOnlyDictionary<TKey, TValue> desired, bool reread, List<SyncProblem> problems, List<MapWrite>? applied = null)
    {
        if (reread || _view is null)
            _view = _map.ReadAll().ToDictionary();
        foreach (var (key, value) in desired)
        {
            if (_view.TryGetValue(key, out var existing) && existing.Equals(value))
                continue;
            try
            {
                _map.Update(key, value);
                _view[key] = value;
            }
            catch (BpfException error)
            {
                problems.Add(new SyncProblem(SyncProblemKind.WriteFailed, $"{_map.Name}: writing {key}: {error.Message}", Error: error));
            }
        }
    }

    /// <summary>Deletes the entries that are not desired.</summary>
    public void DeleteOthers(IReadOnlyDictionary<TKey, TValue> desired, List<SyncProblem> problems)
    {
        if (_view is null)
            return;
        foreach (var key in _view.Keys.Where(key => !desired.ContainsKey(key)).ToList())
        {
            try
            {
                _map.Delete(key);
                _view.Remove(key);
            }
            catch (BpfException error)
            {
                problems.Add(new SyncProblem(SyncProblemKind.WriteFailed, $"{_map.Name}: deleting {key}: {error.Message}", Error: error));
            }
        }
    }

    /// <summary>The entries as last written or read.</summary>
    public IReadOnlyDictionary<TKey, TValue> View => _view ?? new Dictionary<TKey, TValue>();
}
