using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Parsing;
using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.ServiceProxy.Sources;

/// <summary>
/// A directory of Service, EndpointSlice and Node manifests, re-read when a file changes. Its Nodes are this daemon's
/// <see cref="INodeSource"/>: this node is the one named by <c>--hostname-override</c>. The directory is
/// the complete state: a removed file removes its objects. A malformed object is reported with its
/// file and reason (once, until the file changes) and skipped; the rest keeps working. Change
/// detection is a cheap poll of names, sizes and modification times, woken early by a file watcher.
/// </summary>
public sealed partial class ManifestDirectorySource : IServiceSource, INodeSource, IDisposable
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
    private string? _lastFingerprint;
    private volatile bool _synced;
    private ImmutableSortedDictionary<string, Model.Node> _nodes = ImmutableSortedDictionary<string, Model.Node>.Empty;

    /// <param name="nodeName">This node's name (<c>--hostname-override</c>): <see cref="ThisNode"/> is the Node of that name.</param>
    public ManifestDirectorySource(string directory, ILogger<ManifestDirectorySource> logger, ProxyMetrics metrics, string? nodeName = null)
    {
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

    /// <summary>Re-reads the directory when its fingerprint moved; returns true when it did.</summary>
    public bool ReloadIfChanged(ChangeTracker tracker, Action changed)
    {
        var fingerprint = Fingerprint();
        if (fingerprint == _lastFingerprint)
            return false;

        var services = new List<Model.Service>();
        var slices = new List<Model.EndpointSlice>();
        var diagnostics = new List<ManifestDiagnostic>();
        var seenServices = new HashSet<Model.ObjectKey>();
        var seenSlices = new HashSet<Model.ObjectKey>();
        var nodes = ImmutableSortedDictionary.CreateBuilder<string, Model.Node>(StringComparer.Ordinal);
        var lastGood = new Dictionary<string, ManifestSet>();
        var parsed = new Dictionary<string, (long, long, ManifestSet)>(StringComparer.Ordinal);
        foreach (var path in ManifestFiles())
        {
            var set = Parse(path, parsed);
            diagnostics.AddRange(set.Diagnostics);
            if (set.Diagnostics.Any(IsSyntaxError) && _lastGoodByFile.TryGetValue(path, out var previous))
            {
                // A half-saved or broken edit must not delete the Services the file held a moment ago.
                LogKeptLastGood(_logger, path);
                set = previous;
            }
            lastGood[path] = set;
            foreach (var service in set.Services)
                if (seenServices.Add(service.Key))
                    services.Add(service);
                else
                    diagnostics.Add(new ManifestDiagnostic(path, 0, null, "Service", service.Key.ToString(), "duplicate of an object in an earlier file; skipped"));
            foreach (var slice in set.EndpointSlices)
                if (seenSlices.Add(slice.Key))
                    slices.Add(slice);
                else
                    diagnostics.Add(new ManifestDiagnostic(path, 0, null, "EndpointSlice", slice.Key.ToString(), "duplicate of an object in an earlier file; skipped"));
            foreach (var node in set.Nodes)
                if (!nodes.TryAdd(node.Name, node))
                    diagnostics.Add(new ManifestDiagnostic(path, 0, null, "Node", node.Name, "duplicate of an object in an earlier file; skipped"));
        }
        _lastGoodByFile = lastGood;
        _parsedByFile = parsed;
        ReportDiagnostics(diagnostics);
        _lastFingerprint = fingerprint;
        var anyChange = tracker.ReplaceAll(services, slices);
        var nodesChanged = PublishNodes(nodes.ToImmutable());
        LogLoaded(_logger, _directory, services.Count, slices.Count, nodes.Count, diagnostics.Count);
        _synced = true;
        if (nodesChanged)
            NodesChanged?.Invoke();
        if (anyChange)
            changed();
        return true;
    }

    /// <summary>
    /// The file's objects: its last parse when its size and modification time are those it was parsed at (a change to one
    /// file of a large directory parses that file only), else a new parse. Recorded into <paramref name="parsed"/>.
    /// </summary>
    private ManifestSet Parse(string path, Dictionary<string, (long, long, ManifestSet)> parsed)
    {
        var file = new FileInfo(path);
        var (length, ticks) = (file.Length, file.LastWriteTimeUtc.Ticks);
        if (_parsedByFile.TryGetValue(path, out var known) && known.Length == length && known.WriteTicks == ticks)
        {
            parsed[path] = known;
            return known.Set;
        }
        var set = ManifestReader.Parse(File.ReadAllText(path), path);
        // Stamped with what was seen before the read: a write during the read changes them again, and is read next time.
        parsed[path] = (length, ticks, set);
        return set;
    }

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
            .Where(path => Path.GetExtension(path) is ".yaml" or ".yml" or ".json")
            .Order(StringComparer.Ordinal);

    public void Dispose() => _wakeUp.Dispose();

    private string Fingerprint()
    {
        var files = new DirectoryInfo(_directory).EnumerateFiles()
            .Where(file => file.Extension is ".yaml" or ".yml" or ".json")
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
