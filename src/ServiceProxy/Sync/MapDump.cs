using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// The canonical text form of the NAT maps: one line per entry, frontends (by VIP, port,
/// protocol) then backends (by id, ordinal). Golden tests and inspection tools print this.
/// <code>
/// fe 10.96.0.10:80/tcp svc=1 count=2 flags=0 affinity=0s
/// fe 192.168.1.10:30080/tcp svc=1 count=2 flags=0 affinity=0s kind=NodePort
/// be svc=1 #0 10.244.1.5:8080
/// </code>
/// The kind is written for every kind but ClusterIP, the local count only when there is one.
/// </summary>
public static class MapDump
{
    public static string Frontend(NatFrontendKey4 key, NatFrontendValue value) =>
        $"fe {key} svc={value.ServiceId} count={value.BackendCount} flags={(uint)value.Flags} affinity={value.AffinityTimeoutSeconds}s" +
        (value.Kind == FrontendKind.ClusterIP ? "" : $" kind={value.Kind}") + (value.LocalCount == 0 ? "" : $" local={value.LocalCount}");

    public static string Backend(NatBackendKey key, NatBackendValue4 value) =>
        $"be svc={key.ServiceId} #{key.Ordinal} {value}";

    public static IReadOnlyList<string> Lines(NatMapContents contents) =>
        contents.Frontends.OrderBy(pair => MapOrder.Frontend(pair.Key)).Select(pair => Frontend(pair.Key, pair.Value))
            .Concat(contents.Backends.OrderBy(pair => MapOrder.Backend(pair.Key)).Select(pair => Backend(pair.Key, pair.Value)))
            .ToList();

    public static IReadOnlyList<string> Lines(IBpfMap<NatFrontendKey4, NatFrontendValue> frontends, IBpfMap<NatBackendKey, NatBackendValue4> backends) =>
        Lines(NatMapContents.Read(frontends, backends));
}
