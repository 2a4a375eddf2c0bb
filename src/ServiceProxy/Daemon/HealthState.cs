namespace ProxyReplacement.ServiceProxy.Daemon;

/// <summary>
/// What /healthz, /livez and /readyz report, with kube-proxy's rules (its <c>ProxyHealthServer</c>).
/// <list type="bullet">
/// <item><see cref="Healthy"/> (/livez, and the <c>serviceProxyHealthy</c> of health check node ports): false when a
/// change the source queued (<see cref="QueuedUpdate"/>) has waited longer than the health timeout (2 × the sync period,
/// as kube-proxy's) without a sync applying it, or when, after a first sync, no sync at all ran for that timeout and a
/// margin (the periodic full resync stopped). Healthy while starting up, before anything was queued.</item>
/// <item><see cref="NodeEligible"/>: false while this node is being deleted or tainted <c>ToBeDeletedByClusterAutoscaler</c>
/// (KEP-3836), so that cloud load balancers probing /healthz drain it. /healthz is <see cref="Healthy"/> and eligible.</item>
/// <item><see cref="Ready"/> (/readyz): the source delivered its first complete view and it is in the maps.</item>
/// </list>
/// The source's condition is reported beside them but changes none: a proxy whose API server is down keeps serving its
/// last state, and a liveness probe must not kill it for that.
/// </summary>
public sealed class HealthState(TimeProvider time, TimeSpan syncPeriod)
{
    /// <summary>Slack for the "no sync at all" rule, on top of the timeout: a full resync may take a while.</summary>
    public static readonly TimeSpan StaleMargin = TimeSpan.FromSeconds(5);

    private readonly Lock _gate = new();
    private DateTimeOffset? _lastSync;
    private DateTimeOffset? _pendingSince;
    private DateTimeOffset? _pendingDuringSync;
    private bool _syncing;
    private volatile bool _ready;
    private volatile bool _nodeEligible = true;
    private volatile SourceCondition _source = SourceCondition.Ok;

    /// <summary>kube-proxy's <c>healthTimeout</c>: how long a queued change may wait for a sync.</summary>
    public TimeSpan Timeout { get; } = syncPeriod * 2;

    public bool Ready => _ready;

    /// <summary>What the source last reported about itself.</summary>
    public SourceCondition Source => _source;

    public void ReportSource(SourceCondition condition) => _source = condition;

    /// <summary>False while this node is draining (<see cref="Model.Node.Draining"/>). True until a Node says otherwise.</summary>
    public bool NodeEligible => _nodeEligible;

    /// <summary>
    /// This node as the source now sees it. An unknown node (none yet, or none of this name) counts as eligible, as in
    /// kube-proxy, which is eligible until a Node event says otherwise.
    /// </summary>
    public void ReportNode(Model.Node? node) => _nodeEligible = node is not { Draining: true };

    public DateTimeOffset? LastSync
    {
        get
        {
            lock (_gate) return _lastSync;
        }
    }

    /// <summary>Since when a change has been waiting for a sync (null: none is).</summary>
    public DateTimeOffset? PendingSince
    {
        get
        {
            lock (_gate) return _pendingSince;
        }
    }

    /// <summary>The source queued a change for the dataplane (kube-proxy's <c>QueuedUpdate</c>): the oldest unapplied one counts.</summary>
    public void QueuedUpdate()
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            _pendingSince ??= now;
            if (_syncing)
                _pendingDuringSync ??= now; // may have missed the commit of the sync under way
        }
    }

    /// <summary>A sync is starting: changes queued from now on may not be in it.</summary>
    public void SyncStarting()
    {
        lock (_gate)
        {
            _syncing = true;
            _pendingDuringSync = null;
        }
    }

    /// <summary>
    /// A sync finished (kube-proxy's <c>Updated</c> when <paramref name="applied"/>). Not applied (writes failed; the next
    /// sync retries them) leaves the queued changes pending.
    /// </summary>
    public void RecordSync(bool applied = true)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            _lastSync = now;
            if (applied)
                _pendingSince = _pendingDuringSync;
            _pendingDuringSync = null;
            _syncing = false;
        }
        _ready = true;
    }

    /// <summary>The proxy itself works: no change waits too long, and syncs keep running (see the class summary).</summary>
    public bool Healthy
    {
        get
        {
            var now = time.GetUtcNow();
            lock (_gate)
            {
                if (_pendingSince is { } pending && now - pending >= Timeout)
                    return false;
                return _lastSync is not { } last || now - last <= Timeout + StaleMargin;
            }
        }
    }

    public DateTimeOffset Now => time.GetUtcNow();
}
