using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Tests.Support;

/// <summary>
/// A frontend and a backend map in memory, observed: every write is logged in the canonical
/// one-line form, and after every write the make-before-break invariant is checked (each
/// frontend's ordinals [0, count) are all present in the backend map). Violations are collected.
/// </summary>
public sealed class NatMapsUnderTest
{
    public NatMapsUnderTest(int maxFrontends = 1024, int maxBackends = 4096)
    {
        Frontends = new ObservedMap<NatFrontendKey4, NatFrontendValue>(new InMemoryBpfMap<NatFrontendKey4, NatFrontendValue>("pr_nat_fe4", maxFrontends));
        Backends = new ObservedMap<NatBackendKey, NatBackendValue4>(new InMemoryBpfMap<NatBackendKey, NatBackendValue4>("pr_nat_be4", maxBackends));
        Frontends.AfterWrite = (key, value) => Record(value is { } v ? $"+{MapDump.Frontend(key, v)}" : $"-fe {key}");
        Backends.AfterWrite = (key, value) => Record(value is { } v ? $"+{MapDump.Backend(key, v)}" : $"-be svc={key.ServiceId} #{key.Ordinal}");
    }

    public ObservedMap<NatFrontendKey4, NatFrontendValue> Frontends { get; }
    public ObservedMap<NatBackendKey, NatBackendValue4> Backends { get; }

    /// <summary>Every write since the last <see cref="ClearLog"/>, in order.</summary>
    public List<string> WriteLog { get; } = [];

    /// <summary>Each invariant violation seen, with the write that caused it.</summary>
    public List<string> Violations { get; } = [];

    public IReadOnlyList<string> Dump() => MapDump.Lines(Frontends, Backends);

    public void ClearLog() => WriteLog.Clear();

    private void Record(string write)
    {
        WriteLog.Add(write);
        foreach (var (key, value) in Frontends.Inner.ReadAll())
            for (uint ordinal = 0; ordinal < value.BackendCount; ordinal++)
                if (!Backends.Inner.TryLookup(new NatBackendKey(value.ServiceId, ordinal), out _))
                    Violations.Add($"after '{write}': frontend {key} (svc={value.ServiceId} count={value.BackendCount}) lacks backend #{ordinal}");
    }
}
