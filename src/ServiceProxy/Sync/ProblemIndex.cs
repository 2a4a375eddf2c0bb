using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// The problems a rebuild reports (<see cref="DesiredState.Problems"/>), kept by the Service they belong to, and the
/// frontend keys that more than one service port claims (<see cref="Contested"/>). A rebuild lists, in Service order,
/// each Service's own problems (a bad external-mode annotation, a nodePort outside the range, an external or
/// LoadBalancer IP that cannot be served: <see cref="SetOwn"/>), then, in service port order, the frontends a port lost
/// to an earlier claimant (<see cref="AddConflict"/>). An incremental pass (<see cref="ServiceChangeBuilder"/>) replaces the
/// own problems of the Services it rebuilt and lists them the same way, so it reports exactly what a rebuild would. It
/// never changes a conflict: a change that touches a contested key takes the rebuild.
/// </summary>
public sealed class ProblemIndex
{
    private readonly SortedDictionary<ObjectKey, string[]> _own = [];
    private readonly SortedDictionary<ObjectKey, List<string>> _conflicts = [];
    private readonly HashSet<NatFrontendKey4> _contested = [];

    /// <summary>Frontend keys claimed by more than one service port (the first in port order holds it).</summary>
    public IReadOnlySet<NatFrontendKey4> Contested => _contested;

    /// <summary>How many problems <see cref="List"/> returns.</summary>
    public int Count { get; private set; }

    /// <summary>Replaces the own problems of <paramref name="service"/> (none: forgets it).</summary>
    public void SetOwn(ObjectKey service, IReadOnlyList<string> problems)
    {
        if (_own.Remove(service, out var old))
            Count -= old.Length;
        if (problems.Count == 0)
            return;
        _own[service] = [.. problems];
        Count += problems.Count;
    }

    /// <summary>A frontend <paramref name="key"/> that a port of <paramref name="service"/> lost to an earlier claimant.</summary>
    public void AddConflict(ObjectKey service, NatFrontendKey4 key, string problem)
    {
        if (!_conflicts.TryGetValue(service, out var list))
            _conflicts[service] = list = [];
        list.Add(problem);
        _contested.Add(key);
        Count++;
    }

    /// <summary>Every problem in a rebuild's order: the Services' own, then the conflicts.</summary>
    public List<string> List()
    {
        var all = new List<string>(Count);
        foreach (var problems in _own.Values)
            all.AddRange(problems);
        foreach (var problems in _conflicts.Values)
            all.AddRange(problems);
        return all;
    }
}
