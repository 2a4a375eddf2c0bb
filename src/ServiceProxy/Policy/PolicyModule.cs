using System.Diagnostics;
using Microsoft.Extensions.Logging;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sources;
using ProxyReplacement.ServiceProxy.Telemetry;

namespace ProxyReplacement.ServiceProxy.Policy;

/// <summary>What one policy pass did.</summary>
public sealed record PolicySyncResult(CompiledPolicy Compiled, PolicyWriteResult Written, TimeSpan CompileTime);

/// <summary>
/// The policy module: owns <c>pr_pol_ep4</c>, <c>pr_pol_ports4</c> and <c>pr_pol_peers4</c> and keeps them equal to
/// what the NetworkPolicies say for this node's pods. Its place in the sync loop is <see cref="Sync"/>, called once per
/// pass: it compiles (<see cref="PolicyCompiler"/>, pure) and writes (<see cref="PolicyWriter"/>) when the inputs changed
/// (<see cref="IPolicySource.PolicyInputsChanged"/> queues a pass), at every full resync (maps re-read: drift repaired)
/// and after a pass whose writes failed; any other pass costs nothing. With <c>--network-policy=false</c> the source
/// gives no inputs: the maps are emptied (a previous run's policies must not stay enforced) and stay empty. Problems
/// (malformed policies, parts not enforced) are logged when they first appear and counted in
/// <c>proxyreplacement_policy_problems{reason}</c>. The module only writes maps: the programs that read them are the
/// dataplane's. Traced as <c>policy</c>.
/// </summary>
public sealed partial class PolicyModule
{
    private readonly IPolicySource _source;
    private readonly string _nodeName;
    private readonly PolicyWriter _writer;
    private readonly PolicyMetrics _metrics;
    private readonly ILogger _logger;
    private volatile bool _inputsChanged = true; // the first pass always compiles (and adopts what is pinned)
    private bool _retry;
    private bool _seeded;
    private PolicyIds _ids = PolicyIds.Empty;
    private HashSet<string> _reported = [];
    private readonly string? _namesPath;
    private bool _namesFailed;

    /// <param name="changed">Called after the inputs changed (on the source's thread), to queue a sync.</param>
    public PolicyModule(IBpfMap<PolicyEndpointKey4, PolicyEndpoint> endpoints, IBpfMap<PolicyPortKey, PolicyPortValue> ports,
        IBpfMap<PolicyPeerKey4, PolicyPeerValue> peers, IPolicySource source, string nodeName, PolicyMetrics metrics, ILogger<PolicyModule> logger,
        Action? changed = null, string? namesPath = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        _namesPath = namesPath;
        _writer = new PolicyWriter(endpoints, ports, peers);
        _source = source;
        _nodeName = nodeName;
        _metrics = metrics;
        _logger = logger;
        source.PolicyInputsChanged += () =>
        {
            _inputsChanged = true;
            changed?.Invoke();
        };
    }

    /// <summary>The last compile (null before the first pass).</summary>
    public CompiledPolicy? Last { get; private set; }

    public PolicyWriter Writer => _writer;

    /// <summary>One pass (on the sync loop's thread); null when there was nothing to do (or it failed: logged, retried).</summary>
    public PolicySyncResult? Sync(bool full)
    {
        if (!full && !_inputsChanged && !_retry)
            return null;
        _inputsChanged = false; // before reading the inputs: a change from now on makes the next pass compile again
        using var activity = ProxyActivitySources.Sync.StartActivity("policy");
        CompiledPolicy compiled;
        PolicyWriteResult written;
        TimeSpan compileTime;
        try
        {
            if (!_seeded)
            {
                // After a restart: new sets get ids above those pinned, so they never mix with the previous daemon's entries.
                _ids = _ids.Seed(_writer.MaxSetInMaps());
                _seeded = true;
            }
            var clock = Stopwatch.StartNew();
            compiled = PolicyCompiler.Compile(_source.PolicyInputs, _nodeName, _ids);
            compileTime = clock.Elapsed;
            _metrics.CompileDuration?.Record(compileTime.TotalSeconds);
            written = _writer.Apply(compiled, reread: full);
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            // A module of its own: whatever goes wrong here must not stop the Service sync that follows.
            _retry = true;
            _metrics.WriteErrors.Increment();
            LogFailed(_logger, error);
            activity?.SetStatus(ActivityStatusCode.Error, error.Message);
            return null;
        }
        _ids = compiled.Ids;
        Last = compiled;
        _retry = written.Problems.Count > 0 || written.HeldBack > 0;

        _metrics.Writes.Increment(written.Writes);
        _metrics.WriteErrors.Increment(written.Problems.Count);
        _metrics.MapFull.Increment(written.MapFull);
        _metrics.Endpoints.Set(compiled.Endpoints.Count);
        _metrics.RuleSets.Set(compiled.Sets.Count);
        _metrics.RecordEntries(_writer.Endpoints.Count, _writer.Ports.Count, _writer.Peers.Count);
        _metrics.RecordProblems(compiled.Problems);
        Report(compiled.Problems);
        if (_namesPath is not null) // every pass that compiled: after a change, a full resync or a retry
            WriteNames(compiled);
        foreach (var problem in written.Problems)
            LogWriteFailed(_logger, problem.Reason);
        if (written.MapFull > 0)
            LogMapFull(_logger, written.MapFull);
        if (written.Writes > 0 || written.Problems.Count > 0)
            LogWritten(_logger, compiled.Endpoints.Count, compiled.Endpoints.Values.Count(e => e.IngressSet != 0 || e.EgressSet != 0), compiled.Sets.Count, compiled.Ports.Count, compiled.Peers.Count, written.Writes,
                written.Problems.Count, compileTime.TotalMilliseconds);

        activity?.SetTag("endpoints", compiled.Endpoints.Count);
        activity?.SetTag("sets", compiled.Sets.Count);
        activity?.SetTag("writes", written.Writes);
        activity?.SetTag("problems", written.Problems.Count);
        if (written.Problems.Count > 0)
            activity?.SetStatus(ActivityStatusCode.Error, written.Problems[0].ToString());
        return new PolicySyncResult(compiled, written, compileTime);
    }

    /// <summary>The names dump and explain show (<see cref="PolicyNames"/>); a failure is logged once, the maps are unaffected.</summary>
    private void WriteNames(CompiledPolicy compiled)
    {
        try
        {
            PolicyNames.Of(compiled).Write(_namesPath!);
            _namesFailed = false;
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            if (!_namesFailed)
                LogNamesFailed(_logger, _namesPath!, error.Message);
            _namesFailed = true;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Policy: cannot write the rule and pod names for dump and explain to {Path}: {Reason}; they will show ids")]
    private static partial void LogNamesFailed(ILogger logger, string path, string reason);

    /// <summary>Logs each problem the last compile did not have; once when none are left.</summary>
    private void Report(IReadOnlyList<PolicyProblem> problems)
    {
        var now = problems.Select(problem => problem.ToString()).ToHashSet(StringComparer.Ordinal);
        foreach (var problem in now.Where(problem => !_reported.Contains(problem)))
            LogProblem(_logger, problem);
        if (now.Count == 0 && _reported.Count > 0)
            LogProblemsResolved(_logger);
        _reported = now;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Policy: {Problem}")]
    private static partial void LogProblem(ILogger logger, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "Policy: every NetworkPolicy is enforced again")]
    private static partial void LogProblemsResolved(ILogger logger);

    [LoggerMessage(Level = LogLevel.Error, Message = "Policy: the pass failed; retrying at the next sync")]
    private static partial void LogFailed(ILogger logger, Exception error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Policy: {Reason}; retrying at the next sync")]
    private static partial void LogWriteFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Policy: {Count} entries did not fit (a policy map is full: raise its size); the endpoints whose sets are incomplete keep their previous state")]
    private static partial void LogMapFull(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Policy: {Endpoints} endpoints tracked, {Isolated} isolated, {Sets} rule sets, {Ports} port and {Peers} peer entries ({Writes} writes, {Failed} failed; compiled in {Milliseconds:F1} ms)")]
    private static partial void LogWritten(ILogger logger, int endpoints, int isolated, int sets, int ports, int peers, int writes, int failed, double milliseconds);
}
