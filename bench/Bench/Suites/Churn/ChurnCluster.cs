using System.Globalization;
using System.Net;
using ProxyReplacement.Bench.Workload;

namespace ProxyReplacement.Bench.Suites.Churn;

/// <summary>The kinds of change the soak makes, with their share of all changes.</summary>
public enum ChurnKind
{
    /// <summary>A pod replaced: one endpoint address of a slice changes (ready).</summary>
    EndpointReplaced,
    /// <summary>A Deployment scaled: an endpoint added to or removed from a slice.</summary>
    EndpointScaled,
    /// <summary>A readiness probe flipped: one endpoint turns not ready, or one that was not ready recovers.</summary>
    ReadinessFlipped,
    /// <summary>The Service's port changed (80 ↔ 81): its frontend moves.</summary>
    PortChanged,
    /// <summary>A Service created (with its slice) or deleted (with its slice).</summary>
    ServiceAddedOrDeleted,
}

/// <summary>One Service of the model: whether it exists, its port, and its endpoints (slot, ready).</summary>
public sealed class ChurnService(int index)
{
    public int Index { get; } = index;
    public bool Present { get; set; }
    public int Port { get; set; } = SyntheticServices.ServicePort;
    public List<(int Slot, bool Ready)> Endpoints { get; } = [];

    /// <summary>Times it was created: a Service deleted and created again is a new object (a new uid).</summary>
    public int Incarnation { get; set; }

    /// <summary>The uid of the Service (<paramref name="slice"/>: of its slice) in this incarnation, stable across updates.</summary>
    public string Uid(bool slice) => $"00000000-{(slice ? 1 : 0):x4}-{Incarnation & 0xffff:x4}-0000-{Index:x12}";

    /// <summary>When its slice last changed (the <c>endpoints.kubernetes.io/last-change-trigger-time</c> the sources carry).</summary>
    public DateTimeOffset SliceChanged { get; set; }

    public IPAddress ClusterIP => SyntheticServices.ClusterIP(Index);
    public string Name => SyntheticServices.ServiceName(Index);
    public string SliceName => Name + "-slice";
    public IPAddress EndpointAddress(int slot) => ChurnCluster.EndpointAddress(Index, slot);
}

/// <summary>What one batch of changes touched: per Service index, whether the Service object and/or its slice changed.</summary>
public sealed class ChurnBatch
{
    public Dictionary<int, (bool Service, bool Slice)> Touched { get; } = [];

    public void Touch(int index, bool service, bool slice)
    {
        var (s, e) = Touched.GetValueOrDefault(index);
        Touched[index] = (s || service, e || slice);
    }
}

/// <summary>
/// The soak's model of the cluster: a pool of Service indices (ClusterIP and names of <see cref="SyntheticServices"/>), about
/// <see cref="Target"/> of them present, each with one port and one EndpointSlice of 1 .. <see cref="MaxEndpoints"/> endpoints whose
/// addresses come from 64 slots per Service in 10.128.0.0/9. <see cref="Next"/> makes one random change (seeded: every run makes
/// the same sequence) in a realistic mix; <see cref="Expected"/> is what the NAT maps must hold for it.
/// </summary>
public sealed class ChurnCluster
{
    public const int MaxEndpoints = 8;

    /// <summary>
    /// The share of endpoints not ready, from the start and throughout: a flip makes a ready endpoint not ready while fewer are,
    /// else lets a not-ready one recover. The state stays stationary (about as many backends at the end as at the start), so
    /// memory and sync figures late in the soak compare with early ones.
    /// </summary>
    public const double NotReadyShare = 0.05;
    private const int SlotsPerService = 64;

    /// <summary>Per cent of all changes, by kind.</summary>
    public static readonly IReadOnlyList<(ChurnKind Kind, int Percent)> Mix =
    [
        (ChurnKind.EndpointReplaced, 40),
        (ChurnKind.EndpointScaled, 10),
        (ChurnKind.ReadinessFlipped, 25),
        (ChurnKind.PortChanged, 10),
        (ChurnKind.ServiceAddedOrDeleted, 15),
    ];

    /// <summary>
    /// Endpoint changes only (<c>PR_BENCH_SOAK_MIX=endpoints-only</c>): no Service object changes, so every triggered sync can take
    /// the Syncer's endpoint-only path; the standard <see cref="Mix"/> against it shows what the Service changes cost.
    /// </summary>
    public static readonly IReadOnlyList<(ChurnKind Kind, int Percent)> EndpointsOnlyMix =
    [
        (ChurnKind.EndpointReplaced, 60),
        (ChurnKind.EndpointScaled, 15),
        (ChurnKind.ReadinessFlipped, 25),
    ];

    private readonly IReadOnlyList<(ChurnKind Kind, int Percent)> _mix;
    private readonly ChurnService[] _pool;
    private readonly List<int> _present = [];
    private readonly List<int> _absent = [];
    private readonly Random _random;
    private readonly int _endpointsPerService;

    public ChurnCluster(int services, int endpointsPerService, int seed, IReadOnlyList<(ChurnKind Kind, int Percent)>? mix = null)
    {
        _mix = mix ?? Mix;
        if (_mix.Sum(entry => entry.Percent) != 100)
            throw new ArgumentException("the shares of a mix add up to 100 %", nameof(mix));
        if (endpointsPerService < 1 || endpointsPerService > MaxEndpoints)
            throw new ArgumentOutOfRangeException(nameof(endpointsPerService), endpointsPerService, $"1 .. {MaxEndpoints}");
        Target = services;
        _endpointsPerService = endpointsPerService;
        _random = new Random(seed);
        // 5 % spare indices, so that adds create Services that did not exist a moment ago
        _pool = new ChurnService[services + Math.Max(2, services / 20)];
        var now = DateTimeOffset.UtcNow;
        for (var i = 0; i < _pool.Length; i++)
        {
            _pool[i] = new ChurnService(i);
            if (i < services)
            {
                Create(_pool[i], now);
                _present.Add(i);
            }
            else
                _absent.Add(i);
        }
        var (total, _) = Readiness();
        for (var marked = 0; marked < (int)(total * NotReadyShare);)
            if (SetReadiness(ready: false))
                marked++;
    }

    /// <summary>How many Services the soak keeps present.</summary>
    public int Target { get; }

    /// <summary>Every index the soak may use (present or not).</summary>
    public IReadOnlyList<ChurnService> Pool => _pool;

    public int PresentCount => _present.Count;

    /// <summary>Changes made so far, by kind.</summary>
    public Dictionary<ChurnKind, long> Counts { get; } = Enum.GetValues<ChurnKind>().ToDictionary(kind => kind, _ => 0L);

    /// <summary>Changes made so far.</summary>
    public long Total => Counts.Values.Sum();

    public static IPAddress EndpointAddress(int service, int slot)
    {
        var value = 0x0A80_0000u + (uint)(service * SlotsPerService + slot + 1);
        return new IPAddress([(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value]);
    }

    /// <summary>Makes one random change and records what it touched in <paramref name="batch"/>.</summary>
    public ChurnKind Next(ChurnBatch batch, DateTimeOffset now)
    {
        var roll = _random.Next(100);
        var kind = _mix[^1].Kind;
        foreach (var (candidate, percent) in _mix)
        {
            if (roll < percent)
            {
                kind = candidate;
                break;
            }
            roll -= percent;
        }
        if (_present.Count == 0)
            kind = ChurnKind.ServiceAddedOrDeleted;
        var service = _pool[_present.Count > 0 ? _present[_random.Next(_present.Count)] : 0];
        switch (kind)
        {
            case ChurnKind.EndpointReplaced:
            {
                var at = _random.Next(service.Endpoints.Count);
                service.Endpoints[at] = (FreeSlot(service), true);
                SliceChanged(batch, service, now);
                break;
            }
            case ChurnKind.EndpointScaled:
            {
                var grow = service.Endpoints.Count == 1 || (service.Endpoints.Count < MaxEndpoints && _random.Next(2) == 0);
                if (grow)
                    service.Endpoints.Add((FreeSlot(service), true));
                else
                    service.Endpoints.RemoveAt(_random.Next(service.Endpoints.Count));
                SliceChanged(batch, service, now);
                break;
            }
            case ChurnKind.ReadinessFlipped:
            {
                var (total, notReady) = Readiness();
                var ready = notReady >= total * NotReadyShare; // recover one, or fail one
                for (var attempt = 0; attempt < 10_000 && !SetReadiness(ready, out service); attempt++)
                {
                }
                SliceChanged(batch, service, now);
                break;
            }
            case ChurnKind.PortChanged:
                service.Port = service.Port == SyntheticServices.ServicePort ? SyntheticServices.ServicePort + 1 : SyntheticServices.ServicePort;
                batch.Touch(service.Index, service: true, slice: false);
                break;
            case ChurnKind.ServiceAddedOrDeleted:
            {
                var add = _present.Count < Target || (_present.Count == Target && _random.Next(2) == 0);
                if (add && _absent.Count > 0)
                {
                    var at = _random.Next(_absent.Count);
                    service = _pool[_absent[at]];
                    _absent[at] = _absent[^1];
                    _absent.RemoveAt(_absent.Count - 1);
                    _present.Add(service.Index);
                    Create(service, now);
                }
                else
                {
                    _present.Remove(service.Index); // O(n) at 10k: fine at 15 a second
                    _absent.Add(service.Index);
                    service.Present = false;
                    service.Endpoints.Clear();
                }
                batch.Touch(service.Index, service: true, slice: true);
                break;
            }
        }
        Counts[kind]++;
        return kind;
    }

    /// <summary>
    /// The NAT frontends the maps must hold: per present Service, "VIP:port/tcp" → the sorted "address:8080" of its ready
    /// endpoints (an empty set: the frontend stays, with no backends, and rejects).
    /// </summary>
    public SortedDictionary<string, string[]> Expected()
    {
        var expected = new SortedDictionary<string, string[]>(StringComparer.Ordinal);
        foreach (var index in _present)
        {
            var service = _pool[index];
            expected[string.Create(CultureInfo.InvariantCulture, $"{service.ClusterIP}:{service.Port}/tcp")] = service.Endpoints
                .Where(endpoint => endpoint.Ready)
                .Select(endpoint => string.Create(CultureInfo.InvariantCulture, $"{service.EndpointAddress(endpoint.Slot)}:{SyntheticServices.TargetPort}"))
                .Order(StringComparer.Ordinal)
                .ToArray();
        }
        return expected;
    }

    /// <summary>Endpoints of the present Services, and how many of them are not ready.</summary>
    private (int Total, int NotReady) Readiness()
    {
        var (total, notReady) = (0, 0);
        foreach (var index in _present)
            foreach (var endpoint in _pool[index].Endpoints)
            {
                total++;
                if (!endpoint.Ready)
                    notReady++;
            }
        return (total, notReady);
    }

    private bool SetReadiness(bool ready) => SetReadiness(ready, out _);

    /// <summary>Picks a random present Service and sets one of its endpoints that is not yet <paramref name="ready"/>; false if it has none.</summary>
    private bool SetReadiness(bool ready, out ChurnService service)
    {
        var picked = _pool[_present[_random.Next(_present.Count)]];
        service = picked;
        var candidates = Enumerable.Range(0, picked.Endpoints.Count).Where(at => picked.Endpoints[at].Ready != ready).ToList();
        if (candidates.Count == 0)
            return false;
        var chosen = candidates[_random.Next(candidates.Count)];
        picked.Endpoints[chosen] = (picked.Endpoints[chosen].Slot, ready);
        return true;
    }

    private void Create(ChurnService service, DateTimeOffset now)
    {
        service.Present = true;
        service.Incarnation++;
        service.Port = SyntheticServices.ServicePort;
        service.Endpoints.Clear();
        for (var j = 0; j < _endpointsPerService; j++)
            service.Endpoints.Add((FreeSlot(service), true));
        service.SliceChanged = now;
    }

    private static void SliceChanged(ChurnBatch batch, ChurnService service, DateTimeOffset now)
    {
        service.SliceChanged = now;
        batch.Touch(service.Index, service: false, slice: true);
    }

    /// <summary>A slot none of the Service's endpoints uses (a new pod gets a new address).</summary>
    private int FreeSlot(ChurnService service)
    {
        while (true)
        {
            var slot = _random.Next(SlotsPerService);
            if (!service.Endpoints.Any(endpoint => endpoint.Slot == slot))
                return slot;
        }
    }
}
