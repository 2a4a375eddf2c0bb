using System.Diagnostics;
using Microsoft.Extensions.Logging;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;

namespace ProxyReplacement.ServiceProxy.Conntrack;

/// <summary>What one sweep removed.</summary>
public sealed record SweepResult(int Scanned, int ExpiredFlows, int OrphanReverses, int ConntrackDeleted, int AffinityDeleted, TimeSpan Elapsed);

/// <summary>
/// Conntrack maintenance, control-plane side: every <c>interval</c> reads pr_ct4 (BPF_MAP_LOOKUP_BATCH), decides
/// with <see cref="ConntrackSweep.Plan"/> which flows are past their timeout, and deletes them (BPF_MAP_DELETE_BATCH),
/// forward and reverse entry together; then the same for pr_aff4 (<see cref="AffinitySweep"/>). The dataplane already
/// treats expired entries as absent on lookup; the sweep frees their slots, so closed and idle flows do not sit in
/// the LRU until memory pressure evicts them. Between the read and the delete a packet may have replaced an expired
/// entry with a new flow under the same key (the dataplane overwrites expired entries): each planned key is looked
/// up again and deleted only if it still holds an expired entry of the same flow.
/// </summary>
public sealed partial class ConntrackSweeper
{
    private readonly IBpfMap<ConntrackKey4, ConntrackValue4> _conntrack;
    private readonly IBpfMap<AffinityKey4, AffinityValue4>? _affinity;
    private readonly IBpfMap<NatFrontendKey4, NatFrontendValue>? _frontends;
    private readonly ConntrackTimeouts _timeouts;
    private readonly Func<ulong> _clock;
    private readonly ConntrackMetrics _metrics;
    private readonly ILogger _logger;

    public ConntrackSweeper(IBpfMap<ConntrackKey4, ConntrackValue4> conntrack, ConntrackTimeouts timeouts, ConntrackMetrics metrics, ILogger logger,
        IBpfMap<AffinityKey4, AffinityValue4>? affinity = null, IBpfMap<NatFrontendKey4, NatFrontendValue>? frontends = null, Func<ulong>? clock = null)
    {
        _conntrack = conntrack;
        _affinity = affinity;
        _frontends = frontends;
        _timeouts = timeouts;
        _metrics = metrics;
        _logger = logger;
        _clock = clock ?? Monotonic.NowNs;
    }

    /// <summary>Sweeps once: conntrack, then affinity (when given).</summary>
    public SweepResult SweepOnce()
    {
        var started = Stopwatch.GetTimestamp();
        var entries = _conntrack.ReadAll();
        var now = _clock();
        var plan = ConntrackSweep.Plan(entries, _timeouts, now);
        var confirmed = Confirm(plan, now);
        var deleted = confirmed.Count == 0 ? 0 : _conntrack.DeleteBatch(confirmed.ToArray());

        var affinityDeleted = 0;
        if (_affinity is not null && _frontends is not null)
        {
            var stale = AffinitySweep.Stale(_affinity.ReadAll(), key => _frontends.TryLookup(key, out var value) ? value : null, _clock());
            affinityDeleted = stale.Count == 0 ? 0 : _affinity.DeleteBatch(stale.ToArray());
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        _metrics.Sweeps.Increment();
        _metrics.ExpiredFlows.Increment(plan.ExpiredFlows);
        _metrics.OrphanReverses.Increment(plan.OrphanReverses);
        _metrics.EntriesDeleted.Increment(deleted);
        _metrics.AffinityDeleted.Increment(affinityDeleted);
        _metrics.RecordSweep(elapsed);
        _metrics.MapFill[_conntrack.Name] = (entries.Count - deleted, _conntrack.MaxEntries);
        var result = new SweepResult(plan.Scanned, plan.ExpiredFlows, plan.OrphanReverses, deleted, affinityDeleted, elapsed);
        if (deleted > 0 || affinityDeleted > 0)
            LogSwept(_logger, result.Scanned, result.ExpiredFlows, result.OrphanReverses, deleted, affinityDeleted, elapsed.TotalMilliseconds);
        return result;
    }

    /// <summary>Runs <see cref="SweepOnce"/> every <paramref name="interval"/> until cancelled; a failed sweep is logged, counted and retried.</summary>
    public async Task RunAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(interval);
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            try
            {
                SweepOnce();
            }
            catch (BpfException error)
            {
                _metrics.SweepErrors.Increment();
                LogSweepFailed(_logger, error.Message);
            }
        }
    }

    /// <summary>The planned keys that still hold an expired entry of the same flow (nothing replaced them since the read).</summary>
    private List<ConntrackKey4> Confirm(ConntrackSweepPlan plan, ulong now)
    {
        var confirmed = new List<ConntrackKey4>(plan.Delete.Count);
        foreach (var key in plan.Delete)
        {
            if (!_conntrack.TryLookup(key, out var value))
                continue;
            if (value.Type == ConntrackType.Forward)
            {
                if (_timeouts.IsExpired(key.Protocol, value, now))
                    confirmed.Add(key);
                continue;
            }
            // A reverse entry goes with its expired forward entry; without a forward entry, when it is expired itself.
            // If a new flow took the key between the read and here, its forward entry is alive and it stays.
            var forwardKey = ConntrackSweep.ForwardOf(key, value);
            var forward = default(ConntrackValue4);
            var hasForward = value.Type == ConntrackType.Reverse && _conntrack.TryLookup(forwardKey, out forward) &&
                             forward.Type == ConntrackType.Forward && forward.NatAddressNbo == key.SourceNbo && forward.NatPortNbo == key.SourcePortNbo;
            if (hasForward ? _timeouts.IsExpired(forwardKey.Protocol, forward, now) : _timeouts.IsExpired(key.Protocol, value, now))
                confirmed.Add(key);
        }
        return confirmed;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Conntrack sweep: {Scanned} entries, {Flows} expired flows and {Orphans} orphan reverse entries; deleted {Deleted} conntrack and {Affinity} affinity entries in {Milliseconds:F1} ms")]
    private static partial void LogSwept(ILogger logger, int scanned, int flows, int orphans, int deleted, int affinity, double milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Conntrack sweep failed: {Reason}; retrying at the next interval")]
    private static partial void LogSweepFailed(ILogger logger, string reason);
}
