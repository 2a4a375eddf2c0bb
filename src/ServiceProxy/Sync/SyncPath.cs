namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>Why a sync rebuilt the whole desired state instead of only the changed Services (<see cref="ServiceChangeBuilder"/>).</summary>
public enum RebuildReason
{
    /// <summary>A full resync: asked for (the periodic one, which also re-reads the maps) or the first sync.</summary>
    FullResync,
    /// <summary>The frontend context changed since the last sync (NodePort addresses, NodePort range, the node).</summary>
    ContextChanged,
    /// <summary>The previous sync left failed or deferred writes: the maps may not hold its desired state.</summary>
    AfterProblems,
    /// <summary>The commit does not follow the snapshot synced last (or a snapshot was synced without a commit).</summary>
    NotOnTopOfLastSync,
    /// <summary>A changed Service claims, or claimed, a frontend key that another service port claims too.</summary>
    ContestedFrontend,
    /// <summary>The maps do not hold what the last sync left for a changed Service, or a Service repeats a service port.</summary>
    Unexpected,
}

/// <summary>How one sync built its writes: incrementally (only the changed Services) or by a rebuild, and why.</summary>
/// <param name="Reason">Why the sync rebuilt everything; null when it was incremental.</param>
/// <param name="ChangedServices">The Services the commit changed (0 without a commit).</param>
public readonly record struct SyncPath(RebuildReason? Reason, int ChangedServices)
{
    public bool Incremental => Reason is null;

    /// <summary>"incremental", or "rebuild" (the trace's and the metric's label).</summary>
    public string Kind => Incremental ? "incremental" : "rebuild";

    /// <summary>The reason in snake case ("" when incremental): the metric's label.</summary>
    public string ReasonLabel => Reason switch
    {
        null => "",
        RebuildReason.FullResync => "full_resync",
        RebuildReason.ContextChanged => "context_changed",
        RebuildReason.AfterProblems => "after_problems",
        RebuildReason.NotOnTopOfLastSync => "not_on_top_of_last_sync",
        RebuildReason.ContestedFrontend => "contested_frontend",
        RebuildReason.Unexpected => "unexpected",
        _ => Reason.Value.ToString(),
    };

    public override string ToString() => Incremental ? $"incremental ({ChangedServices} Services)" : $"rebuild ({ReasonLabel})";
}
