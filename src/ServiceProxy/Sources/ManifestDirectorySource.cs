using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Parsing;
using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.ServiceProxy.Sources;

/// <summary>
/// A directory of Service, EndpointSlice and Node manifests, re-read when a file changes. Its Nodes are this daemon's
/// <see cref="INodeSource"/>: this node is the one named by <c>--hostname-override</c>. Its Pods, Namespaces and
/// NetworkPolicies (unless <c>--network-policy=false</c>) are the <see cref="IPolicySource"/>. The directory is
/// the complete state: a removed file removes its objects. A malformed object is reported with its
/// file and reason (once, until the file changes) and skipped; the rest keeps working. Change
/// detection is a cheap poll of names, sizes and modification times, woken early by a file watcher.
/// </summary>
public sealed partial class ManifestDirectorySource : IServiceSource, INodeSource, IPolicySource, IDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    private readonly string _directory;
    private readonly ILogger _logger;
    private readonly ProxyMetrics _metrics;
    private readonly SemaphoreSlim _wakeUp = new(0, 1);
    private HashSet<string> _reportedDiagnostics = [];
    private Dictionary<string, ManifestSet> _lastGoodByFile = [];
    /// <summary>Each file's parse, by its path, with the size and modification time it was read at: an unchanged file is not parsed again.</summary>
    private Dictionary<string, (long Length, long WriteTicks, ManifestSet Set)> _parsedByFile = new(StringComparer.Ordinal);
    /// <summary>What the last complete pass saw: the files in order, how many times each key was defined, the duplicates it reported.</summary>
    private List<string>? _files;
    private DefinitionCounts _serviceDefinitions = new();
    private DefinitionCounts _sliceDefinitions = new();
    private List<ManifestDiagnostic> _duplicates = [];
    private string? _lastFingerprint;
    private volatile bool _synced;
    private ImmutableSortedDictionary<string, Model.Node> _nodes = ImmutableSortedDictionary<string, Model.Node>.Empty;
    private readonly bool _networkPolicy;
    private PolicyInputs _policyInputs = PolicyInputs.Empty;

    /// <param name="nodeName">This node's name (<c>--hostname-override</c>): <see cref="ThisNode"/> is the Node of that name.</param>
    /// <param name="networkPolicy">Read Pods, Namespaces and NetworkPolicies (<c>--network-policy</c>).</param>
    public ManifestDirectorySource(string directory, ILogger<ManifestDirectorySource> logger, ProxyMetrics metrics, string? nodeName = null,
        bool networkPolicy = false)
    {
        _networkPolicy = networkPolicy;
        NodeName = nodeName ?? Environment.MachineName;
        _directory = directory;
        _logger = logger;
        _metrics = metrics;
    }

    public string Description => $"manifest directory {_directory}";

    public bool Synced => _synced;

    public string NodeName { get; }

    public IReadOnlyDictionary<string, Model.Node> Nodes => Volatile.Read(ref _nodes);

    public Model.Node? ThisNode => Volatile.Read(ref _nodes).GetValueOrDefault(NodeName);

    public event Action? NodesChanged;

    public PolicyInputs PolicyInputs => Volatile.Read(ref _policyInputs);

    public event Action? PolicyInputsChanged;

    public async Task RunAsync(ChangeTracker tracker, Action changed, CancellationToken cancellationToken)
    {
        using var watcher = CreateWatcher();
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                ReloadIfChanged(tracker, changed);
            }
            catch (Exception error) when (error is IOException or UnauthorizedAccessException)
            {
                // The directory vanished or is unreadable: keep serving the last good state.
                _metrics.SourceErrors.Increment();
                LogUnreadable(_logger, _directory, error.Message);
            }
            try
            {
                await _wakeUp.WaitAsync(PollInterval, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Re-reads the directory when its fingerprint moved; returns true when it did. Only the files whose size or modification
    /// time moved are parsed again; when those files' objects are defined nowhere else (no duplicates to arbitrate), hold no
    /// Node and parse cleanly, just their objects go to the tracker (one file edited in a directory of 10k Services costs that
    /// file, not a pass over every object); otherwise the complete state goes through <see cref="ChangeTracker.ReplaceAll"/>.
    /// Both ways give the same state (tested against a fresh read).
    /// </summary>
    public bool ReloadIfChanged(ChangeTracker tracker, Action changed)
    {
        var fingerprint = Fingerprint();
        if (fingerprint == _lastFingerprint)
            return false;

        var parsed = new Dictionary<string, (long, long, ManifestSet)>(StringComparer.Ordinal);
        var files = new List<(string Path, ManifestSet Set, bool Reparsed)>();
        foreach (var path in ManifestFiles())
        {
            var set = Parse(path, parsed, out var reparsed);
            files.Add((path, set, reparsed));
        }
        _parsedByFile = parsed;
        var policyChanged = false;
        var (anyChange, nodesChanged, counts) = TryApplyChangedFiles(files, tracker) ?? ApplyAll(files, tracker, out policyChanged);
        _lastFingerprint = fingerprint;
        LogLoaded(_logger, _directory, counts.Services, counts.Slices, counts.Nodes, counts.Skipped);
        _synced = true;
        if (nodesChanged)
            NodesChanged?.Invoke();
        if (policyChanged)
            PolicyInputsChanged?.Invoke();
        if (anyChange)
            changed();
        return true;
    }

    /// <summary>Reloads that handed only the changed files' objects to the tracker (tests).</summary>
    internal int ChangedFileReloads { get; private set; }

    private readonly record struct Counts(int Services, int Slices, int Nodes, int Skipped);

    /// <summary>The complete state: every file's objects, duplicates arbitrated (the first file in name order wins), into <see cref="ChangeTracker.ReplaceAll"/>.</summary>
    private (bool AnyChange, bool NodesChanged, Counts Counts) ApplyAll(List<(string Path, ManifestSet Set, bool Reparsed)> files, ChangeTracker tracker,
        out bool policyChanged)
    {
        var pods = new Dictionary<Model.ObjectKey, Model.Pod>();
        var namespaces = new Dictionary<string, Model.PodNamespace>(StringComparer.Ordinal);
        var policies = new Dictionary<Model.ObjectKey, Model.NetworkPolicy>();
        var services = new List<Model.Service>();
        var slices = new List<Model.EndpointSlice>();
        var diagnostics = new List<ManifestDiagnostic>();
        var duplicates = new List<ManifestDiagnostic>();
        var serviceDefinitions = new DefinitionCounts(files.Sum(file => file.Set.Services.Count));
        var sliceDefinitions = new DefinitionCounts(files.Sum(file => file.Set.EndpointSlices.Count));
        var nodes = ImmutableSortedDictionary.CreateBuilder<string, Model.Node>(StringComparer.Ordinal);
        var lastGood = new Dictionary<string, ManifestSet>(StringComparer.Ordinal);
        foreach (var (path, parsedSet, _) in files)
        {
            var set = parsedSet;
            diagnostics.AddRange(set.Diagnostics);
            if (set.Diagnostics.Any(IsSyntaxError) && _lastGoodByFile.TryGetValue(path, out var previous))
            {
                // A half-saved or broken edit must not delete the Services the file held a moment ago.
                LogKeptLastGood(_logger, path);
                set = previous;
            }
            lastGood[path] = set;
            foreach (var service in set.Services)
                if (serviceDefinitions.Define(service.Key))
                    services.Add(service);
                else
                    duplicates.Add(new ManifestDiagnostic(path, 0, null, "Service", service.Key.ToString(), "duplicate of an object in an earlier file; skipped"));
            foreach (var slice in set.EndpointSlices)
                if (sliceDefinitions.Define(slice.Key))
                    slices.Add(slice);
                else
                    duplicates.Add(new ManifestDiagnostic(path, 0, null, "EndpointSlice", slice.Key.ToString(), "duplicate of an object in an earlier file; skipped"));
            foreach (var node in set.Nodes)
                if (!nodes.TryAdd(node.Name, node))
                    duplicates.Add(new ManifestDiagnostic(path, 0, null, "Node", node.Name, "duplicate of an object in an earlier file; skipped"));
            foreach (var pod in set.Pods)
                if (!pods.TryAdd(pod.Key, pod))
                    duplicates.Add(new ManifestDiagnostic(path, 0, null, "Pod", pod.Key.ToString(), "duplicate of an object in an earlier file; skipped"));
            foreach (var ns in set.Namespaces)
                if (!namespaces.TryAdd(ns.Name, ns))
                    duplicates.Add(new ManifestDiagnostic(path, 0, null, "Namespace", ns.Name, "duplicate of an object in an earlier file; skipped"));
            foreach (var policy in set.NetworkPolicies)
                if (!policies.TryAdd(policy.Key, policy))
                    duplicates.Add(new ManifestDiagnostic(path, 0, null, "NetworkPolicy", policy.Key.ToString(), "duplicate of an object in an earlier file; skipped"));
        }
        policyChanged = PublishPolicyInputs(pods, namespaces, policies, diagnostics);
        diagnostics.AddRange(duplicates);
        _lastGoodByFile = lastGood;
        _files = files.Select(file => file.Path).ToList();
        _serviceDefinitions = serviceDefinitions;
        _sliceDefinitions = sliceDefinitions;
        _duplicates = duplicates;
        ReportDiagnostics(diagnostics);
        var anyChange = tracker.ReplaceAll(services, slices);
        var nodesChanged = PublishNodes(nodes.ToImmutable());
        return (anyChange, nodesChanged, new Counts(services.Count, slices.Count, nodes.Count, diagnostics.Count));
    }

    /// <summary>
    /// Only the re-parsed files' objects into the tracker, when that is the same as <see cref="ApplyAll"/>: the same files
    /// as before, and each re-parsed one parses cleanly, holds no Node, and its objects (old and new) are defined in no
    /// other file and once in it. Null when not (the caller applies everything).
    /// </summary>
    private (bool AnyChange, bool NodesChanged, Counts Counts)? TryApplyChangedFiles(List<(string Path, ManifestSet Set, bool Reparsed)> files, ChangeTracker tracker)
    {
        if (_files is null || files.Count != _files.Count || files.Where((file, i) => file.Path != _files[i]).Any())
            return null;
        var changedFiles = files.Where(file => file.Reparsed).ToList();
        var claimedServices = new HashSet<Model.ObjectKey>(); // what the changed files define now: two of them must not both claim a key
        var claimedSlices = new HashSet<Model.ObjectKey>();
        foreach (var (path, set, _) in changedFiles)
        {
            if (!_lastGoodByFile.TryGetValue(path, out var old) || set.Diagnostics.Any(IsSyntaxError) || set.Nodes.Count > 0 || old.Nodes.Count > 0
                || set.HasPolicyInputs || old.HasPolicyInputs
                || !OwnedByItAlone(old.Services.Select(s => s.Key), set.Services.Select(s => s.Key), _serviceDefinitions, claimedServices)
                || !OwnedByItAlone(old.EndpointSlices.Select(s => s.Key), set.EndpointSlices.Select(s => s.Key), _sliceDefinitions, claimedSlices))
                return null;
        }
        var anyChange = false;
        foreach (var (path, set, _) in changedFiles)
        {
            var old = _lastGoodByFile[path];
            var services = set.Services.Select(s => s.Key).ToHashSet();
            foreach (var service in old.Services.Where(service => !services.Contains(service.Key)))
            {
                anyChange |= tracker.DeleteService(service.Key);
                _serviceDefinitions.Remove(service.Key);
            }
            foreach (var service in set.Services)
            {
                anyChange |= tracker.UpsertService(service);
                _serviceDefinitions.SetOnce(service.Key);
            }
            var slices = set.EndpointSlices.Select(s => s.Key).ToHashSet();
            foreach (var slice in old.EndpointSlices.Where(slice => !slices.Contains(slice.Key)))
            {
                anyChange |= tracker.DeleteEndpointSlice(slice.Key);
                _sliceDefinitions.Remove(slice.Key);
            }
            foreach (var slice in set.EndpointSlices)
            {
                anyChange |= tracker.UpsertEndpointSlice(slice);
                _sliceDefinitions.SetOnce(slice.Key);
            }
            _lastGoodByFile[path] = set;
        }
        var diagnostics = files.SelectMany(file => file.Set.Diagnostics).Concat(_duplicates).ToList();
        ReportDiagnostics(diagnostics);
        ChangedFileReloads++;
        return (anyChange, false, new Counts(_serviceDefinitions.Count, _sliceDefinitions.Count, Volatile.Read(ref _nodes).Count, diagnostics.Count));
    }

    /// <summary>
    /// Whether keys <paramref name="before"/> (the file's last objects) and <paramref name="after"/> (its new ones) belong to this
    /// file alone, once each: defined by no other file before, and claimed now by no other changed file (<paramref name="claimed"/>).
    /// </summary>
    private static bool OwnedByItAlone(IEnumerable<Model.ObjectKey> before, IEnumerable<Model.ObjectKey> after, DefinitionCounts definitions,
        HashSet<Model.ObjectKey> claimed)
    {
        var old = new HashSet<Model.ObjectKey>();
        foreach (var key in before)
            if (!old.Add(key) || definitions.CountOf(key) != 1)
                return false;
        var seen = new HashSet<Model.ObjectKey>();
        foreach (var key in after)
            if (!seen.Add(key) || !claimed.Add(key) || (!old.Contains(key) && definitions.Contains(key)))
                return false;
        return true;
    }

    /// <summary>
    /// The file's objects: its last parse when its size and modification time are those it was parsed at (a change to one
    /// file of a large directory parses that file only), else a new parse. Recorded into <paramref name="parsed"/>.
    /// </summary>
    private ManifestSet Parse(string path, Dictionary<string, (long, long, ManifestSet)> parsed, out bool reparsed)
    {
        var file = new FileInfo(path);
        var (length, ticks) = (file.Length, file.LastWriteTimeUtc.Ticks);
        reparsed = !(_parsedByFile.TryGetValue(path, out var known) && known.Length == length && known.WriteTicks == ticks);
        if (!reparsed)
        {
            parsed[path] = known;
            return known.Set;
        }
        var set = ManifestReader.Parse(File.ReadAllText(path), path, _networkPolicy);
        // Stamped with what was seen before the read: a write during the read changes them again, and is read next time.
        parsed[path] = (length, ticks, set);
        return set;
    }

    /// <summary>Replaces the policy inputs when they differ; returns whether they did. A malformed policy's diagnostic is its problem.</summary>
    private bool PublishPolicyInputs(Dictionary<Model.ObjectKey, Model.Pod> pods, Dictionary<string, Model.PodNamespace> namespaces,
        Dictionary<Model.ObjectKey, Model.NetworkPolicy> policies, List<ManifestDiagnostic> diagnostics)
    {
        var rejected = diagnostics
            .Where(d => d.Kind == "NetworkPolicy" && d.ObjectName is { } name && name.Contains('/') && !d.Reason.StartsWith("duplicate", StringComparison.Ordinal))
            .Select(d =>
            {
                var slash = d.ObjectName!.IndexOf('/');
                return new Model.PolicyProblem(new Model.ObjectKey(d.ObjectName[..slash], d.ObjectName[(slash + 1)..]),
                    Model.PolicyProblemReason.Of(d.Reason), $"{d.FilePath}: {d.Reason}", Skipped: true);
            })
            .OrderBy(problem => problem.Policy)
            .ToList();
        var previous = Volatile.Read(ref _policyInputs);
        if (SameContents(previous.Pods, pods) && SameContents(previous.Namespaces, namespaces) && SameContents(previous.Policies, policies) &&
            previous.Rejected.SequenceEqual(rejected))
            return false;
        Volatile.Write(ref _policyInputs, new PolicyInputs(pods, namespaces, policies, rejected));
        return true;
    }

    private static bool SameContents<TKey, TValue>(IReadOnlyDictionary<TKey, TValue> before, Dictionary<TKey, TValue> after) where TKey : notnull =>
        before.Count == after.Count && before.All(pair => after.TryGetValue(pair.Key, out var value) && EqualityComparer<TValue>.Default.Equals(value, pair.Value));

    /// <summary>Replaces the Nodes when they differ; returns whether they did.</summary>
    private bool PublishNodes(ImmutableSortedDictionary<string, Model.Node> nodes)
    {
        var previous = Volatile.Read(ref _nodes);
        if (previous.Count == nodes.Count && previous.All(pair => nodes.TryGetValue(pair.Key, out var node) && node == pair.Value))
            return false;
        var previousThis = previous.GetValueOrDefault(NodeName);
        Volatile.Write(ref _nodes, nodes);
        var thisNode = nodes.GetValueOrDefault(NodeName);
        if (thisNode is not null && thisNode != previousThis)
            LogThisNode(_logger, thisNode.ToString());
        else if (thisNode is null && nodes.Count > 0)
            LogNodeMissing(_logger, NodeName);
        return true;
    }

    private static bool IsSyntaxError(ManifestDiagnostic diagnostic) =>
        diagnostic.Reason.StartsWith("YAML syntax error", StringComparison.Ordinal);

    private IEnumerable<string> ManifestFiles() =>
        Directory.EnumerateFiles(_directory)
            .Where(path => ManifestReader.IsManifestFile(Path.GetFileName(path)))
            .Order(StringComparer.Ordinal);

    public void Dispose() => _wakeUp.Dispose();

    private string Fingerprint()
    {
        var files = new DirectoryInfo(_directory).EnumerateFiles()
            .Where(file => ManifestReader.IsManifestFile(file.Name))
            .OrderBy(file => file.Name, StringComparer.Ordinal)
            .Select(file => $"{file.Name}|{file.Length}|{file.LastWriteTimeUtc.Ticks}");
        return string.Join('\n', files);
    }

    private void ReportDiagnostics(IReadOnlyList<ManifestDiagnostic> diagnostics)
    {
        var current = diagnostics.Select(d => d.ToString()).ToHashSet();
        foreach (var diagnostic in current.Where(d => !_reportedDiagnostics.Contains(d)))
        {
            _metrics.ManifestErrors.Increment();
            LogSkipped(_logger, diagnostic);
        }
        _metrics.ManifestObjectsSkipped.Set(current.Count);
        _reportedDiagnostics = current;
    }

    private FileSystemWatcher? CreateWatcher()
    {
        try
        {
            var watcher = new FileSystemWatcher(_directory) { IncludeSubdirectories = false };
            FileSystemEventHandler wake = (_, _) => Wake();
            watcher.Changed += wake;
            watcher.Created += wake;
            watcher.Deleted += wake;
            watcher.Renamed += (_, _) => Wake();
            watcher.EnableRaisingEvents = true;
            return watcher;
        }
        catch (Exception error) when (error is IOException or ArgumentException or PlatformNotSupportedException)
        {
            return null; // polling alone still sees every change, a little later
        }
    }

    private void Wake()
    {
        try
        {
            _wakeUp.Release();
        }
        catch (SemaphoreFullException)
        {
            // a wake-up is already pending
        }
        catch (ObjectDisposedException)
        {
            // shutting down
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Loaded {Directory}: {Services} services, {Slices} endpoint slices, {Nodes} nodes, {Skipped} objects skipped")]
    private static partial void LogLoaded(ILogger logger, string directory, int services, int slices, int nodes, int skipped);

    [LoggerMessage(Level = LogLevel.Information, Message = "This node: {Node}")]
    private static partial void LogThisNode(ILogger logger, string node);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The manifests hold Nodes but none named {Node} (check --hostname-override): node addresses and zone are unknown")]
    private static partial void LogNodeMissing(ILogger logger, string node);

    [LoggerMessage(Level = LogLevel.Error, Message = "Skipped a manifest object: {Diagnostic}")]
    private static partial void LogSkipped(ILogger logger, string diagnostic);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Path} does not parse; keeping its last good contents until it does")]
    private static partial void LogKeptLastGood(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Error, Message = "Cannot read manifest directory {Directory}: {Reason}; keeping the last good state")]
    private static partial void LogUnreadable(ILogger logger, string directory, string reason);
}
