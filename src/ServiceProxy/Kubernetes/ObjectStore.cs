using ProxyReplacement.ServiceProxy.Kubernetes.Api;
using ProxyReplacement.ServiceProxy.Kubernetes.Watching;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Kubernetes;

/// <summary>
/// The converted state of one resource, fed by its <see cref="Reflector{T}"/>. Each object goes through
/// <c>convert</c>: accepted objects are kept, objects that are not ours are dropped, malformed ones are
/// reported once (per resourceVersion) and their last good state, if any, is kept: a bad edit never
/// removes a working Service from the dataplane. Changes go out through the callbacks, under the
/// source's lock (<paramref name="gate"/>), which serialises the three resources' reflectors.
/// </summary>
internal sealed class ObjectStore<TWire, TModel>(
    string resource,
    bool namespaced,
    Lock gate,
    Func<ApiItem<TWire>, Conversion<TModel>> convert,
    Action<ObjectStore<TWire, TModel>> replaced,
    Action<ObjectKey, TModel?> changed,
    Action<string, ObjectKey?, string> rejected,
    Action<string, string?> condition) : IReflectorSink<TWire>
    where TWire : class
    where TModel : class
{
    private Dictionary<ObjectKey, TModel> _current = [];
    private Dictionary<ObjectKey, string> _rejected = [];
    /// <summary>What was last reported per object (key, or display name when unkeyed): each distinct problem is logged once.</summary>
    private readonly Dictionary<string, string> _reported = new(StringComparer.Ordinal);
    private volatile bool _listed;

    public string Resource => resource;

    /// <summary>True once a complete list was delivered.</summary>
    public bool Listed => _listed;

    /// <summary>The accepted objects (call under the gate).</summary>
    public IReadOnlyCollection<TModel> Current => _current.Values;

    /// <summary>Objects currently skipped as malformed, with why (call under the gate).</summary>
    public IReadOnlyDictionary<ObjectKey, string> Rejected => _rejected;

    public void Replace(IReadOnlyList<ApiItem<TWire>> items)
    {
        lock (gate)
        {
            var next = new Dictionary<ObjectKey, TModel>();
            var nextRejected = new Dictionary<ObjectKey, string>();
            var reportedNow = new HashSet<string>(StringComparer.Ordinal);
            foreach (var item in items)
            {
                var conversion = convert(item);
                if (conversion is { Key: { } key, Value: { } value })
                {
                    next[key] = value;
                }
                else if (conversion.Rejection is { } reason)
                {
                    reportedNow.Add(Report(item, conversion.Key, reason));
                    if (conversion.Key is { } rejectedKey)
                    {
                        nextRejected[rejectedKey] = reason;
                        if (_current.TryGetValue(rejectedKey, out var lastGood))
                            next[rejectedKey] = lastGood;
                    }
                }
            }
            // Forget the reports of objects that are gone or good now: the memory stays bounded by the objects.
            foreach (var who in _reported.Keys.Where(who => !reportedNow.Contains(who)).ToList())
                _reported.Remove(who);
            _current = next;
            _rejected = nextRejected;
            _listed = true;
            replaced(this);
        }
    }

    public void Upsert(ApiItem<TWire> item)
    {
        lock (gate)
        {
            var conversion = convert(item);
            switch (conversion)
            {
                case { Key: { } key, Value: { } value }:
                    _rejected.Remove(key);
                    _reported.Remove(key.ToString());
                    _current[key] = value;
                    changed(key, value);
                    break;
                case { Rejection: { } reason }:
                    if (conversion.Key is { } rejectedKey)
                        _rejected[rejectedKey] = reason; // before the report: its handler may read Rejected
                    Report(item, conversion.Key, reason);
                    break;
                case { Key: { } skippedKey }:
                    _rejected.Remove(skippedKey);
                    if (_current.Remove(skippedKey))
                        changed(skippedKey, null);
                    break;
            }
        }
    }

    public void Delete(ApiItem<TWire> item)
    {
        lock (gate)
        {
            if ((ApiObjectConversion.KeyOf(item, namespaced) ?? convert(item).Key) is not { } key)
                return;
            var wasRejected = _rejected.Remove(key);
            _reported.Remove(key.ToString());
            // A deleted object that was only rejected changes no state, but its rejection is gone (the policy problems follow it).
            if (_current.Remove(key) || wasRejected)
                changed(key, null);
        }
    }

    public void Condition(string? failure) => condition(resource, failure);

    /// <summary>Reports a rejection unless this very one (same resourceVersion, same reason) was reported; returns whom it concerns.</summary>
    private string Report(ApiItem<TWire> item, ObjectKey? key, string reason)
    {
        var who = key?.ToString() ?? item.Display;
        var signature = $"{item.ResourceVersion}|{reason}";
        if (!_reported.TryGetValue(who, out var last) || last != signature)
        {
            _reported[who] = signature;
            rejected(resource, key, $"{item.Display} (resourceVersion {item.ResourceVersion ?? "?"}): {reason}");
        }
        return who;
    }
}
