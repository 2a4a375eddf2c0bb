namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// What the NAT maps should hold for a snapshot, plus who owns each service id (for reports)
/// and the problems found while building it (e.g. two Services claiming one VIP:port).
/// </summary>
/// <param name="Problems">In the rebuild's order: each Service's own problems, then the conflicts.</param>
public sealed record DesiredState(
    NatMapContents Maps,
    IReadOnlyDictionary<uint, ServicePortKey> Owners,
    IReadOnlyList<string> Problems)
{
    /// <summary>The same problems by Service, with the contested frontend keys: what an incremental pass starts from.</summary>
    public ProblemIndex? Index { get; init; }
}
