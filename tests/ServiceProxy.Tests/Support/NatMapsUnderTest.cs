using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Routing;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Tests.Support;

/// <summary>
/// A frontend and a backend map in memory, observed: every write is logged in the canonical
/// one-line form, and after every write the make-before-break invariant is checked (each
/// frontend's ordinals [0, count) are all present in the backend map). Violations are collected.
/// The fast-path table (an ARRAY of <c>directSlots</c>) is observed apart: its writes go to <see cref="DirectLog"/>, each
/// with its place among the NAT writes, so the golden write logs of the NAT maps stay as they are.
/// </summary>
public sealed class NatMapsUnderTest
{
    public NatMapsUnderTest(int maxFrontends = 1024, int maxBackends = 4096, int directSlots = 4)
    {
        Direct = new ObservedMap<uint, NatDirectEntry4>(InMemoryBpfMap<uint, NatDirectEntry4>.Array("pr_nat_direct4", directSlots));
        Direct.AfterWrite = (slot, entry) => DirectLog.Add(new DirectWrite(WriteLog.Count, slot, entry ?? default));
        Frontends = new ObservedMap<NatFrontendKey4, NatFrontendValue>(new InMemoryBpfMap<NatFrontendKey4, NatFrontendValue>("pr_nat_fe4", maxFrontends));
        Backends = new ObservedMap<NatBackendKey, NatBackendValue4>(new InMemoryBpfMap<NatBackendKey, NatBackendValue4>("pr_nat_be4", maxBackends));
        SourceRanges = new ObservedMap<LbSourceRangeKey4, LbSourceRangeValue>(new InMemoryBpfMap<LbSourceRangeKey4, LbSourceRangeValue>("pr_lb_src4", 256));
        Names = new InMemoryBpfMap<uint, ServiceName>("pr_svc_names", maxFrontends);
        Routes = new ObservedMap<RouteKey4, RouteValue>(new InMemoryBpfMap<RouteKey4, RouteValue>("pr_routes4", 256));
        Routes.AfterWrite = (key, value) => Record(value is { } v ? $"+{RouteDump.Line(key, v)}" : $"-rt {key}");
        Frontends.AfterWrite = (key, value) => Record(value is { } v ? $"+{MapDump.Frontend(key, v)}" : $"-fe {key}");
        SourceRanges.AfterWrite = (key, value) => Record(value is null ? $"-src {key}" : $"+src {key}");
        Backends.AfterWrite = (key, value) => Record(value is { } v ? $"+{MapDump.Backend(key, v)}" : $"-{MapDump.BackendKey(key)}");
    }

    public ObservedMap<NatFrontendKey4, NatFrontendValue> Frontends { get; }
    public ObservedMap<NatBackendKey, NatBackendValue4> Backends { get; }

    /// <summary>pr_lb_src4: a frontend with the source-ranges flag must find a range of its id (else it drops every client).</summary>
    public ObservedMap<LbSourceRangeKey4, LbSourceRangeValue> SourceRanges { get; }

    public InMemoryBpfMap<uint, ServiceName> Names { get; }

    /// <summary>pr_nat_direct4, the ClusterIP fast path (an ARRAY: every slot exists, an empty one is zero).</summary>
    public ObservedMap<uint, NatDirectEntry4> Direct { get; }

    /// <summary>One write to <see cref="Direct"/>: after <paramref name="NatWritesBefore"/> entries of <see cref="WriteLog"/>.</summary>
    public readonly record struct DirectWrite(int NatWritesBefore, uint Slot, NatDirectEntry4 Entry)
    {
        public bool Empties => Entry.Equals(default(NatDirectEntry4));
        public override string ToString() => Empties ? $"-slot {Slot}" : $"+slot {Slot} {Entry}";
    }

    /// <summary>Every write to <see cref="Direct"/> since the last <see cref="ClearLog"/>, in order.</summary>
    public List<DirectWrite> DirectLog { get; } = [];

    /// <summary>The non-empty slots of <see cref="Direct"/> by slot.</summary>
    public Dictionary<uint, NatDirectEntry4> DirectSlotsHeld() =>
        Direct.Inner.ReadAll().Where(e => !e.Value.Equals(default(NatDirectEntry4))).ToDictionary(e => e.Key, e => e.Value);

    /// <summary>pr_routes4, the routing module's map (written by a <see cref="RouteWriter"/>, not the Syncer).</summary>
    public ObservedMap<RouteKey4, RouteValue> Routes { get; }

    /// <summary>Every write since the last <see cref="ClearLog"/>, in order.</summary>
    public List<string> WriteLog { get; } = [];

    /// <summary>Each invariant violation seen, with the write that caused it.</summary>
    public List<string> Violations { get; } = [];

    /// <summary>
    /// The NAT maps' canonical dump, then one <c>src id=N CIDR</c> line per source range, then one <c>rt</c> line per route
    /// (<see cref="RouteDump"/>); none of either in most cases.
    /// </summary>
    public IReadOnlyList<string> Dump() =>
        MapDump.Lines(Frontends, Backends)
            .Concat(SourceRanges.Inner.ReadAll().Select(e => $"src {e.Key}").Order(StringComparer.Ordinal))
            .Concat(RouteDump.Lines(Routes.Inner.ReadAll()))
            .ToList();

    /// <summary>A Syncer on these maps, the side maps and the fast-path table included.</summary>
    public Syncer NewSyncer(bool directStartsEmpty = false) =>
        new(Frontends, Backends, sourceRanges: SourceRanges, names: Names, direct: Direct, directStartsEmpty: directStartsEmpty);

    public void ClearLog()
    {
        WriteLog.Clear();
        DirectLog.Clear();
    }

    private void Record(string write)
    {
        WriteLog.Add(write);
        foreach (var (key, value) in Frontends.Inner.ReadAll())
            for (uint ordinal = 0; ordinal < value.BackendCount; ordinal++)
                if (!Backends.Inner.TryLookup(new NatBackendKey(value.ServiceId, ordinal), out _))
                    Violations.Add($"after '{write}': frontend {key} (svc={value.ServiceId} count={value.BackendCount}) lacks backend #{ordinal}");
        foreach (var (key, value) in Frontends.Inner.ReadAll())
            for (uint ordinal = 0; ordinal < value.LocalCount; ordinal++)
                if (!Backends.Inner.TryLookup(new NatBackendKey(value.ServiceId, NatFrontendValue.LocalOrdinalBase + ordinal), out _))
                    Violations.Add($"after '{write}': frontend {key} (svc={value.ServiceId} local={value.LocalCount}) lacks local backend #L{ordinal}");
        foreach (var (key, value) in Frontends.Inner.ReadAll())
            if (value.Flags.HasFlag(FrontendFlags.SourceRanges) && !SourceRanges.Inner.ReadAll().Any(r => r.Key.ServiceId == value.ServiceId))
                Violations.Add($"after '{write}': frontend {key} checks source ranges but id {value.ServiceId} has none (every client dropped)");
    }
}
