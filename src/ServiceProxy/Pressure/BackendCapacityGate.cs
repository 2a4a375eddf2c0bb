using System.Collections.Immutable;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.ServiceProxy.Pressure;

/// <summary>A Service whose backends did not fit, and what the maps keep for it instead.</summary>
public sealed record HeldBackService(ObjectKey Service, int Needed, int Free, bool OlderVersionKept);

/// <summary>
/// All or nothing for Services that do not fit the backend map (pr_nat_be4): in front of the Syncer, each sync's
/// commit is checked against the map's capacity, and a Service whose new version would not fit is held back as a
/// whole: the Syncer sees the version it last programmed (or, for a new Service, no Service at all), never a
/// version with some of its backends. Every other Service is programmed. Held-back Services are tried again at
/// every sync (capacity freed by others admits them) and reported (<see cref="Held"/>; the daemon logs and counts).
/// When not every growing Service fits, the smallest growth is admitted first (as many Services as possible).
/// </summary>
/// <remarks>
/// The count a Service needs is what the Syncer writes for it: one backend entry per distinct ready IPv4 endpoint of
/// each port that has an IPv4 frontend (<see cref="BackendSets"/>). Within one sync the
/// Syncer writes new backends before it deletes old ones, so a change is admitted only if the map holds it on top
/// of everything admitted so far, shrinking Services counting their old size until the next sync.
/// Pure apart from its memory of what it admitted: no I/O.
/// </remarks>
public sealed class BackendCapacityGate
{
    private readonly int _capacity;
    private readonly Dictionary<ObjectKey, int> _admittedNeed = new();
    /// <summary>For each held-back Service: the version the maps keep (null: none, the Service is absent from the gated view).</summary>
    private readonly Dictionary<ObjectKey, (Service Service, ImmutableArray<EndpointSlice> Slices)?> _held = new();
    private long _admittedTotal;
    private ServiceSnapshot? _lastGated;

    public BackendCapacityGate(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _capacity = capacity;
    }

    /// <summary>The Services currently held back.</summary>
    public IReadOnlyList<HeldBackService> Held { get; private set; } = [];

    /// <summary>Services held back by the last <see cref="Gate"/> that were not held before it (to report once).</summary>
    public IReadOnlyList<HeldBackService> NewlyHeld { get; private set; } = [];

    /// <summary>The backend entries the admitted Services need.</summary>
    public long AdmittedTotal => _admittedTotal;

    /// <summary>The commit the Syncer should apply: <paramref name="commit"/> itself when nothing is or was held back.</summary>
    public TrackerCommit Gate(TrackerCommit commit)
    {
        ArgumentNullException.ThrowIfNull(commit);
        var snapshot = commit.Snapshot;
        // The first commit (or one that does not follow the last gated one) is checked whole.
        var first = _lastGated is null;
        if (first)
            _admittedNeed.EnsureCapacity(snapshot.Services.Count); // grown by doubling, 100k Services left 1.8 MB of slack
        IEnumerable<ObjectKey> candidates = first
            ? snapshot.Services.Keys.Concat(_admittedNeed.Keys).Distinct()
            : commit.ChangedServices.Concat(_held.Keys).Distinct().ToList();

        var previouslyHeld = _held.Keys.ToHashSet();
        var peak = _admittedTotal;
        var held = new List<HeldBackService>();
        var growing = new List<(ObjectKey Key, int Need, int Old)>();
        foreach (var key in candidates.OrderBy(k => k))
        {
            var need = snapshot.Services.TryGetValue(key, out var service) ? Need(service, snapshot.SlicesFor(key)) : 0;
            var old = _admittedNeed.GetValueOrDefault(key);
            if (need <= old)
            {
                Admit(key, need, old);
                continue;
            }
            growing.Add((key, need, old));
        }
        // The smallest growth first: when not everything fits, as many Services as possible are programmed.
        foreach (var (key, need, old) in growing.OrderBy(g => g.Need - g.Old).ThenBy(g => g.Key))
        {
            var free = _capacity - peak;
            if (need - old <= free)
            {
                peak += need - old;
                Admit(key, need, old);
                continue;
            }
            if (!_held.ContainsKey(key))
                _held[key] = KeptVersion(key);
            held.Add(new HeldBackService(key, need, (int)Math.Max(0, free + old), _held[key] is not null));
        }

        Held = held;
        NewlyHeld = held.Where(h => !previouslyHeld.Contains(h.Service)).ToList();
        var gated = _held.Count == 0 ? snapshot : Substitute(snapshot);
        var previous = _lastGated ?? commit.Previous;
        var changed = previouslyHeld.Count == 0 ? commit.ChangedServices : commit.ChangedServices.Concat(previouslyHeld).ToHashSet();
        _lastGated = gated;
        return ReferenceEquals(gated, snapshot) && ReferenceEquals(previous, commit.Previous) && ReferenceEquals(changed, commit.ChangedServices)
            ? commit
            : new TrackerCommit(gated, changed, previous) { TriggerTimes = commit.TriggerTimes };

        void Admit(ObjectKey key, int need, int old)
        {
            _admittedTotal += need - old;
            if (need == 0 && !snapshot.Services.ContainsKey(key))
                _admittedNeed.Remove(key);
            else
                _admittedNeed[key] = need;
            _held.Remove(key);
        }
    }

    /// <summary>Backend entries the Syncer writes for a Service.</summary>
    public static int Need(Service service, ImmutableArray<EndpointSlice> slices)
    {
        var need = 0;
        var frontends = new List<FrontendEntry>();
        var sets = new BackendSets();
        foreach (var port in service.Ports)
        {
            frontends.Clear();
            // Whether the port is programmed at all is decided by its ClusterIPs (every programmed port has one), so
            // the node addresses do not matter here.
            Frontends.Add(service, port, FrontendContext.None, frontends, problems: null);
            if (frontends.Count == 0)
                continue;
            sets.Select(service, port, slices, FrontendContext.None.Node);
            need += sets.Cluster.Count + sets.Local.Count;
        }
        return need;
    }

    /// <summary>The version of a Service the last gated view held (what the maps are programmed with), if any.</summary>
    private (Service, ImmutableArray<EndpointSlice>)? KeptVersion(ObjectKey key) =>
        _lastGated is { } last && last.Services.TryGetValue(key, out var kept) && _admittedNeed.ContainsKey(key)
            ? (kept, last.SlicesFor(key))
            : null;

    private ServiceSnapshot Substitute(ServiceSnapshot snapshot)
    {
        var services = new List<ObjectChange<Service>>();
        var slices = new List<ObjectChange<EndpointSlice>>();
        foreach (var (key, kept) in _held)
        {
            var current = snapshot.Services.GetValueOrDefault(key);
            var replacement = kept?.Service;
            if (!ReferenceEquals(current, replacement))
                services.Add(new ObjectChange<Service>(key, current, replacement));
            foreach (var slice in snapshot.SlicesFor(key))
                slices.Add(new ObjectChange<EndpointSlice>(slice.Key, slice, null));
            if (kept is { } version)
                foreach (var slice in version.Slices)
                    slices.Add(new ObjectChange<EndpointSlice>(slice.Key, null, slice));
        }
        return snapshot.With(services, slices);
    }
}
