using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// What the NAT maps should hold for a snapshot, plus who owns each service id (for reports)
/// and the problems found while building it (e.g. two Services claiming one VIP:port).
/// </summary>
public sealed record DesiredState(
    NatMapContents Maps,
    IReadOnlyDictionary<uint, ServicePortKey> Owners,
    IReadOnlyList<string> Problems);
