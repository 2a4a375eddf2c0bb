using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Routing;

/// <summary>What one <see cref="RouteWriter.Apply"/> did: the writes that reached the map and the ones that failed.</summary>
public sealed record RouteWriteResult(int Writes, IReadOnlyList<SyncProblem> Problems);

/// <summary>
/// Makes <c>pr_routes4</c> hold exactly the desired entries with the fewest writes: entries missing or different are
/// written first, then entries not desired are deleted (a prefix moving to a longer or shorter one is never absent in
/// between). The diff is against the view kept from the last pass; the first pass reads the map, so a restarted daemon
/// adopts what is pinned and writes only what differs (no flush), and a pass with <c>reread</c> (a full resync) reads
/// it again, repairing entries changed behind our back. A failed write is reported
/// (<see cref="SyncProblemKind.WriteFailed"/>) and left out of the view, the others proceed; the next pass retries it.
/// A map that cannot be read is reported the same way, and nothing is written or deleted.
/// </summary>
public sealed class RouteWriter
{
    private readonly SideMap<RouteKey4, RouteValue> _map;
    private readonly string _name;

    public RouteWriter(IBpfMap<RouteKey4, RouteValue> map)
    {
        ArgumentNullException.ThrowIfNull(map);
        _map = new SideMap<RouteKey4, RouteValue>(map);
        _name = map.Name;
    }

    /// <summary>The entries as last written or read.</summary>
    public IReadOnlyDictionary<RouteKey4, RouteValue> View => _map.View;

    public RouteWriteResult Apply(IReadOnlyDictionary<RouteKey4, RouteValue> desired, bool reread)
    {
        ArgumentNullException.ThrowIfNull(desired);
        var problems = new List<SyncProblem>();
        var before = _map.Writes;
        try
        {
            _map.AddAndChange(desired, reread, problems); // catches its writes' errors: what escapes is the read
        }
        catch (BpfException error)
        {
            problems.Add(new SyncProblem(SyncProblemKind.WriteFailed, $"reading {_name}: {error.Message}", Error: error));
            return new RouteWriteResult((int)(_map.Writes - before), problems);
        }
        _map.DeleteOthers(desired, problems);
        return new RouteWriteResult((int)(_map.Writes - before), problems);
    }
}
