namespace ProxyReplacement.ServiceProxy.Policy;

/// <summary>
/// The ids a compile handed out, carried into the next one so that what did not change keeps its id (a policy change
/// then rewrites only the sets it touched): a rule keeps its id while its policy has it; a set content keeps its id
/// while some endpoint uses it. An id is never handed out again in the daemon's life (counters only go up): a new set
/// must not share an id with stale entries still in the maps. <see cref="Seed"/> starts the counters above what a
/// previous daemon left pinned.
/// </summary>
public sealed class PolicyIds
{
    public static PolicyIds Empty => new(new Dictionary<RuleRef, uint>(), new Dictionary<string, uint>(StringComparer.Ordinal), 1, 1);

    internal PolicyIds(IReadOnlyDictionary<RuleRef, uint> rules, IReadOnlyDictionary<string, uint> sets, uint nextRule, uint nextSet)
    {
        Rules = rules;
        Sets = sets;
        NextRule = nextRule;
        NextSet = nextSet;
    }

    public IReadOnlyDictionary<RuleRef, uint> Rules { get; }

    /// <summary>Set content key (<see cref="RuleSetContent.Key"/>) -> set id.</summary>
    public IReadOnlyDictionary<string, uint> Sets { get; }

    public uint NextRule { get; }
    public uint NextSet { get; }

    /// <summary>These ids with the counters moved above <paramref name="maxSetInMaps"/> (set ids found pinned after a restart).</summary>
    public PolicyIds Seed(uint maxSetInMaps) => new(Rules, Sets, NextRule, Math.Max(NextSet, maxSetInMaps + 1));
}
