using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Routing;

/// <summary>
/// What <c>pr_routes4</c> should hold (<see cref="RouteBuilder"/>): the entries in <see cref="RouteOrder"/>, the Node
/// each one belongs to (for logs and tests; the map does not keep names), and the problems found in the Nodes
/// (<see cref="SyncProblemKind.Conflict"/>: a claim that was skipped or that overlaps another node's).
/// </summary>
public sealed record DesiredRoutes(
    IReadOnlyDictionary<RouteKey4, RouteValue> Entries,
    IReadOnlyDictionary<RouteKey4, string> Owners,
    IReadOnlyList<SyncProblem> Problems)
{
    public static DesiredRoutes Empty { get; } = new(new Dictionary<RouteKey4, RouteValue>(), new Dictionary<RouteKey4, string>(), []);
}
