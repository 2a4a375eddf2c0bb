using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Policy;

/// <summary>What one <see cref="PolicyWriter.Apply"/> did.</summary>
/// <param name="HeldBack">Endpoints left on their current entry (or open) because their new set is not completely written.</param>
/// <param name="MapFull">Failed writes among <paramref name="Problems"/> that a full map refused.</param>
public sealed record PolicyWriteResult(int Writes, IReadOnlyList<SyncProblem> Problems, int HeldBack, int MapFull);

/// <summary>
/// Makes the three policy maps hold a compile's entries with the fewest writes and never a moment where an endpoint
/// points at a set that is not all there: (1) port and peer entries missing or different are written; (2) endpoint
/// entries are written, except that an endpoint whose new set had a failed write keeps its current entry (a new
/// endpoint stays open), so it switches sets only once the new set is complete; (3) endpoint entries not desired are
/// deleted; (4) port and peer entries of sets no endpoint entry uses any more are deleted. The diff is against the view
/// kept from the last pass; the first pass reads the maps (a restarted daemon adopts what is pinned), a pass with
/// <c>reread</c> reads them again (drift repaired). Failed writes are reported and retried by the next pass; a full map
/// (E2BIG/ENOSPC) is counted apart: the entries that fit keep working.
/// </summary>
public sealed class PolicyWriter
{
    private readonly SideMap<PolicyEndpointKey4, PolicyEndpoint> _endpoints;
    private readonly SideMap<PolicyPortKey, PolicyPortValue> _ports;
    private readonly SideMap<PolicyPeerKey4, PolicyPeerValue> _peers;
    private readonly IBpfMap<PolicyEndpointKey4, PolicyEndpoint> _endpointMap;
    private readonly IBpfMap<PolicyPortKey, PolicyPortValue> _portMap;
    private readonly IBpfMap<PolicyPeerKey4, PolicyPeerValue> _peerMap;

    public PolicyWriter(IBpfMap<PolicyEndpointKey4, PolicyEndpoint> endpoints, IBpfMap<PolicyPortKey, PolicyPortValue> ports,
        IBpfMap<PolicyPeerKey4, PolicyPeerValue> peers)
    {
        _endpointMap = endpoints;
        _portMap = ports;
        _peerMap = peers;
        _endpoints = new(endpoints);
        _ports = new(ports);
        _peers = new(peers);
    }

    public IReadOnlyDictionary<PolicyEndpointKey4, PolicyEndpoint> Endpoints => _endpoints.View;
    public IReadOnlyDictionary<PolicyPortKey, PolicyPortValue> Ports => _ports.View;
    public IReadOnlyDictionary<PolicyPeerKey4, PolicyPeerValue> Peers => _peers.View;

    /// <summary>The largest set id in the maps (read now): a restarted daemon's new sets start above it.</summary>
    public uint MaxSetInMaps()
    {
        uint max = 0;
        foreach (var (_, value) in _endpointMap.ReadAll())
            max = Math.Max(max, Math.Max(value.IngressSet, value.EgressSet));
        foreach (var (key, _) in _portMap.ReadAll())
            max = Math.Max(max, key.Set);
        foreach (var (key, _) in _peerMap.ReadAll())
            max = Math.Max(max, key.Set);
        return max;
    }

    public PolicyWriteResult Apply(CompiledPolicy desired, bool reread)
    {
        ArgumentNullException.ThrowIfNull(desired);
        var problems = new List<SyncProblem>();
        var before = _endpoints.Writes + _ports.Writes + _peers.Writes;
        var incomplete = new HashSet<uint>();
        var held = 0;
        try
        {
            _endpoints.AddAndChange(new Dictionary<PolicyEndpointKey4, PolicyEndpoint>(), reread, problems); // the current entries, read first
            foreach (var key in _ports.AddAndChange(desired.Ports, reread, problems))
                incomplete.Add(key.Set);
            foreach (var key in _peers.AddAndChange(desired.Peers, reread, problems))
                incomplete.Add(key.Set);

            var endpoints = new Dictionary<PolicyEndpointKey4, PolicyEndpoint>(desired.Endpoints.Count);
            foreach (var (key, value) in desired.Endpoints)
            {
                if (!incomplete.Contains(value.IngressSet) && !incomplete.Contains(value.EgressSet))
                    endpoints[key] = value;
                else
                {
                    held++;
                    if (_endpoints.View.TryGetValue(key, out var current))
                        endpoints[key] = current;
                }
            }
            foreach (var key in _endpoints.AddAndChange(endpoints, reread: false, problems))
                if (_endpoints.View.TryGetValue(key, out var current))
                    endpoints[key] = current; // a failed switch keeps the old entry, and with it the old set's entries
                else
                    endpoints.Remove(key);
            _endpoints.DeleteOthers(endpoints, problems);

            // Sets still referenced by an endpoint entry (desired, held back, or whose delete failed) keep their entries.
            var used = new HashSet<uint>();
            foreach (var value in _endpoints.View.Values)
            {
                used.Add(value.IngressSet);
                used.Add(value.EgressSet);
            }
            _ports.DeleteOthers(Retained(desired.Ports, _ports.View, used, key => key.Set), problems);
            _peers.DeleteOthers(Retained(desired.Peers, _peers.View, used, key => key.Set), problems);
        }
        catch (BpfException error)
        {
            // What escapes SideMap is a failed read of a map: nothing more is written this pass.
            problems.Add(new SyncProblem(SyncProblemKind.WriteFailed, $"reading the policy maps: {error.Message}", Error: error));
        }
        var full = problems.Count(p => p.Error is BpfException { Errno: Errno.E2BIG or Errno.ENOSPC });
        return new PolicyWriteResult((int)(_endpoints.Writes + _ports.Writes + _peers.Writes - before), problems, held, full);
    }

    private static Dictionary<TKey, TValue> Retained<TKey, TValue>(IReadOnlyDictionary<TKey, TValue> desired, IReadOnlyDictionary<TKey, TValue> view,
        HashSet<uint> used, Func<TKey, uint> setOf) where TKey : notnull
    {
        var keep = new Dictionary<TKey, TValue>(desired);
        foreach (var (key, value) in view)
            if (!keep.ContainsKey(key) && used.Contains(setOf(key)))
                keep[key] = value;
        return keep;
    }
}
