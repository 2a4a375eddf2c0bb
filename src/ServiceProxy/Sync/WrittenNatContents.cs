using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// The NAT maps as a pass's writes will leave them, without copying the view: the view with the pass's upserts in and
/// its deletes out. What an incremental pass desires of the whole maps (the writes are the changed Services' diff against
/// a view that holds the last clean desired state), for the fast path's slots (<see cref="DirectSlots.Recompute"/>), which
/// depend on every frontend on a slot, changed or not. Read it before the writes are applied: applying them changes the view.
/// </summary>
internal sealed class WrittenNatContents
{
    private readonly NatMapContents _view;
    private readonly Dictionary<NatFrontendKey4, NatFrontendValue?> _frontends = new();
    private readonly Dictionary<NatBackendKey, NatBackendValue4?> _backends = new();

    public WrittenNatContents(NatMapContents view, IReadOnlyList<MapWrite> writes)
    {
        _view = view;
        foreach (var write in writes)
        {
            switch (write)
            {
                case UpsertFrontend(var key, var value):
                    _frontends[key] = value;
                    break;
                case DeleteFrontend(var key, _):
                    _frontends[key] = null;
                    break;
                case UpsertBackend(var key, var value):
                    _backends[key] = value;
                    break;
                case DeleteBackend(var key):
                    _backends[key] = null;
                    break;
            }
        }
    }

    /// <summary>A frontend's value as the writes leave it; null when there is none.</summary>
    public NatFrontendValue? FrontendOf(NatFrontendKey4 key) =>
        _frontends.TryGetValue(key, out var written) ? written : _view.Frontends.TryGetValue(key, out var value) ? value : null;

    public bool HasBackend(NatBackendKey key) =>
        _backends.TryGetValue(key, out var written) ? written is not null : _view.Backends.ContainsKey(key);

    public NatBackendValue4 BackendOf(NatBackendKey key) =>
        _backends.TryGetValue(key, out var written) ? written.GetValueOrDefault() : _view.Backends.GetValueOrDefault(key);
}
