using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi;

/// <summary>
/// The state of the fake API server: objects as raw JSON (so a test can store a malformed one), one
/// resourceVersion counter for everything (like etcd), a history of changes per resource that watches
/// replay, and compaction: after <see cref="Compact"/>, watches from older versions and old continue
/// tokens are <c>410 Gone</c>. Watches with a label selector see an object leaving the selection as
/// DELETED and entering it as ADDED, as the real API server sends them.
/// </summary>
public sealed class FakeApiStore
{
    public const string Services = "services";
    public const string EndpointSlices = "endpointslices";
    public const string Nodes = "nodes";
    public const string Pods = "pods";
    public const string Namespaces = "namespaces";
    public const string NetworkPolicies = "networkpolicies";

    private sealed record Change(long Version, JsonObject? Previous, JsonObject? Current);

    private readonly Lock _gate = new();
    private readonly Dictionary<string, SortedDictionary<string, JsonObject>> _objects = new();
    private readonly Dictionary<string, List<Change>> _history = new();
    private readonly List<Watcher> _watchers = [];
    private readonly Dictionary<string, (long Version, List<JsonObject> Items)> _listSnapshots = new();
    private long _version = 1000;
    private long _compactedBelow;
    private int _nextSnapshot;

    public FakeApiStore()
    {
        foreach (var resource in (string[])[Services, EndpointSlices, Nodes, Pods, Namespaces, NetworkPolicies])
        {
            _objects[resource] = new SortedDictionary<string, JsonObject>(StringComparer.Ordinal);
            _history[resource] = [];
        }
    }

    public long ResourceVersion
    {
        get { lock (_gate) return _version; }
    }

    /// <summary>Creates or replaces an object (by namespace/name), stamping a new resourceVersion; returns that version.</summary>
    public long Put(string resource, JsonObject item)
    {
        lock (_gate)
        {
            var key = KeyOf(item);
            var stored = (JsonObject)item.DeepClone();
            var version = ++_version;
            ((JsonObject)(stored["metadata"] ??= new JsonObject()))["resourceVersion"] = version.ToString();
            _objects[resource].TryGetValue(key, out var previous);
            _objects[resource][key] = stored;
            Record(resource, new Change(version, previous, stored));
            return version;
        }
    }

    public bool Delete(string resource, string @namespace, string name)
    {
        lock (_gate)
        {
            var key = @namespace.Length == 0 ? name : $"{@namespace}/{name}";
            if (!_objects[resource].Remove(key, out var previous))
                return false;
            Record(resource, new Change(++_version, previous, null));
            return true;
        }
    }

    /// <summary>Forgets the history: every older resourceVersion and continue token is now gone (410).</summary>
    public void Compact()
    {
        lock (_gate)
        {
            _compactedBelow = _version;
            foreach (var history in _history.Values)
                history.Clear();
            _listSnapshots.Clear();
        }
    }

    /// <summary>A consistent list: the matching objects at the current version; with a page size, a continue token for the rest.</summary>
    public (long Version, List<JsonObject> Items, string? Continue) List(string resource, LabelSelector selector, int limit, string? continueToken)
    {
        lock (_gate)
        {
            long version;
            List<JsonObject> all;
            var offset = 0;
            if (continueToken is not null)
            {
                var parts = continueToken.Split(':');
                if (parts.Length != 2 || !_listSnapshots.TryGetValue(parts[0], out var snapshot) || !int.TryParse(parts[1], out offset))
                    throw new GoneException("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.");
                (version, all) = snapshot;
            }
            else
            {
                version = _version;
                all = _objects[resource].Values.Where(selector.Matches).Select(item => (JsonObject)item.DeepClone()).ToList();
            }
            if (limit <= 0 || offset + limit >= all.Count)
                return (version, all.Skip(offset).ToList(), null);
            var id = continueToken?.Split(':')[0] ?? $"s{++_nextSnapshot}";
            _listSnapshots[id] = (version, all);
            return (version, all.Skip(offset).Take(limit).ToList(), $"{id}:{offset + limit}");
        }
    }

    /// <summary>Opens a watch from <paramref name="fromVersion"/>: its backlog is queued at once; null when that version is compacted away.</summary>
    public Watcher? Watch(string resource, long fromVersion, LabelSelector selector, bool bookmarks)
    {
        lock (_gate)
        {
            if (fromVersion < _compactedBelow)
                return null;
            var watcher = new Watcher(resource, selector, bookmarks);
            foreach (var change in _history[resource].Where(change => change.Version > fromVersion))
                watcher.Offer(change.Previous, change.Current, change.Version);
            _watchers.Add(watcher);
            return watcher;
        }
    }

    public void Unsubscribe(Watcher watcher)
    {
        lock (_gate)
            _watchers.Remove(watcher);
    }

    /// <summary>Sends a BOOKMARK with the current resourceVersion to every watch of <paramref name="resource"/> that asked for them.</summary>
    public void SendBookmarks(string resource)
    {
        lock (_gate)
            foreach (var watcher in _watchers.Where(w => w.Resource == resource && w.Bookmarks))
                watcher.Queue.Writer.TryWrite(Event("BOOKMARK", new JsonObject
                {
                    ["kind"] = KindOf(resource),
                    ["metadata"] = new JsonObject { ["resourceVersion"] = _version.ToString() },
                }));
    }

    /// <summary>Ends every open watch normally (as the server does at timeoutSeconds).</summary>
    public void EndWatches()
    {
        lock (_gate)
        {
            foreach (var watcher in _watchers)
                watcher.Queue.Writer.TryComplete();
            _watchers.Clear();
        }
    }

    public int OpenWatches(string resource)
    {
        lock (_gate) return _watchers.Count(w => w.Resource == resource);
    }

    public static string KindOf(string resource) => resource switch
    {
        Services => "Service",
        EndpointSlices => "EndpointSlice",
        _ => "Node",
    };

    public static string KeyOf(JsonObject item)
    {
        var name = item["metadata"]?["name"]?.GetValue<string>() ?? throw new ArgumentException("the object has no metadata.name");
        var ns = item["metadata"]?["namespace"]?.GetValue<string>();
        return string.IsNullOrEmpty(ns) ? name : $"{ns}/{name}";
    }

    internal static string Event(string type, JsonObject item) => new JsonObject { ["type"] = type, ["object"] = item }.ToJsonString();

    private void Record(string resource, Change change)
    {
        _history[resource].Add(change);
        foreach (var watcher in _watchers.Where(w => w.Resource == resource))
            watcher.Offer(change.Previous, change.Current, change.Version);
    }

    /// <summary>The last state of a deleted object, stamped with the deletion's version.</summary>
    internal static JsonObject LastState(JsonObject previous, long version)
    {
        var last = (JsonObject)previous.DeepClone();
        ((JsonObject)last["metadata"]!)["resourceVersion"] = version.ToString();
        return last;
    }

    /// <summary>One open watch: the event lines waiting to be written.</summary>
    public sealed class Watcher(string resource, LabelSelector selector, bool bookmarks)
    {
        public string Resource { get; } = resource;
        public bool Bookmarks { get; } = bookmarks;
        public Channel<string> Queue { get; } = Channel.CreateUnbounded<string>();

        internal void Offer(JsonObject? previous, JsonObject? current, long version)
        {
            var was = selector.Matches(previous);
            var @is = selector.Matches(current);
            var line = (was, @is) switch
            {
                (false, true) => Event("ADDED", (JsonObject)current!.DeepClone()),
                (true, true) => Event("MODIFIED", (JsonObject)current!.DeepClone()),
                (true, false) => Event("DELETED", current is null ? LastState(previous!, version) : (JsonObject)current.DeepClone()),
                _ => null,
            };
            if (line is not null)
                Queue.Writer.TryWrite(line);
        }
    }
}

/// <summary>The store's way of saying 410 Gone (an expired continue token).</summary>
public sealed class GoneException(string message) : Exception(message);
