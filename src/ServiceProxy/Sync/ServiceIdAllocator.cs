namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// Gives each service port a stable id (the frontend value's <c>svc_id</c> and the backend map's
/// key prefix). Ids count up from 1 and are not handed out again soon after release: conntrack and
/// affinity entries still carry the old id for a while. After a restart the ids are adopted back
/// from the frontend map (<see cref="TryAdopt"/>), so a restart rewrites nothing.
/// The reverse direction is a set of the ids in use, not a map back to the owners: nothing on the sync path asks who
/// owns an id (a rebuild carries its own owners), and a 32-byte key per id was 5 MB at 100k service ports.
/// </summary>
public sealed class ServiceIdAllocator
{
    private readonly Dictionary<ServicePortKey, uint> _ids = [];
    private readonly HashSet<uint> _taken = [];
    private uint _next = 1;

    public IReadOnlyDictionary<ServicePortKey, uint> Assignments => _ids;

    public bool TryGet(ServicePortKey key, out uint id) => _ids.TryGetValue(key, out id);

    /// <summary>Whether some service port holds <paramref name="id"/>.</summary>
    public bool IsTaken(uint id) => _taken.Contains(id);

    /// <summary>
    /// Takes over an id found in the dataplane for <paramref name="key"/>. False when the key has
    /// an id already or another service port holds this one.
    /// </summary>
    public bool TryAdopt(ServicePortKey key, uint id)
    {
        if (id == 0 || _ids.ContainsKey(key) || _taken.Contains(id))
            return false;
        Assign(key, id);
        if (id >= _next)
            _next = id == uint.MaxValue ? 1 : id + 1;
        return true;
    }

    /// <summary>
    /// The id of <paramref name="key"/>, allocating one when it has none. <paramref name="takenElsewhere"/>
    /// marks ids still present in the maps (e.g. a deleted Service's entries not yet removed):
    /// those are skipped so a new Service never shares keys with old entries.
    /// </summary>
    public uint GetOrAllocate(ServicePortKey key, Func<uint, bool>? takenElsewhere = null)
    {
        if (_ids.TryGetValue(key, out var existing))
            return existing;
        for (var attempts = 0L; attempts < uint.MaxValue; attempts++)
        {
            var candidate = _next;
            _next = _next == uint.MaxValue ? 1 : _next + 1;
            if (_taken.Contains(candidate) || takenElsewhere?.Invoke(candidate) == true)
                continue;
            Assign(key, candidate);
            return candidate;
        }
        throw new InvalidOperationException("every service id is in use");
    }

    /// <summary>Makes room for <paramref name="count"/> service ports, so a bulk allocation does not rehash as it grows.</summary>
    public void EnsureCapacity(int count)
    {
        _ids.EnsureCapacity(count);
        _taken.EnsureCapacity(count);
    }

    public bool Release(ServicePortKey key)
    {
        if (!_ids.Remove(key, out var id))
            return false;
        _taken.Remove(id);
        return true;
    }

    /// <summary>Releases the ids of every service port not in <paramref name="live"/>.</summary>
    public void RetainOnly(IReadOnlySet<ServicePortKey> live)
    {
        foreach (var key in _ids.Keys.Where(key => !live.Contains(key)).ToList())
            Release(key);
    }

    /// <summary>An independent copy (a drift check builds with it off the sync thread, so it must not touch the live ids).</summary>
    public ServiceIdAllocator Clone()
    {
        var copy = new ServiceIdAllocator { _next = _next };
        copy.EnsureCapacity(_ids.Count);
        foreach (var (key, id) in _ids)
            copy.Assign(key, id);
        return copy;
    }

    private void Assign(ServicePortKey key, uint id)
    {
        _ids[key] = id;
        _taken.Add(id);
    }
}
