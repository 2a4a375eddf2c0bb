using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Kubernetes.Api;
using ProxyReplacement.ServiceProxy.Kubernetes.Objects;
using ProxyReplacement.ServiceProxy.Kubernetes.Watching;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sources;
using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.ServiceProxy.Kubernetes;

/// <summary>
/// The Kubernetes API as the daemon's <see cref="IServiceSource"/>: one <see cref="Reflector{T}"/> each
/// for Services, EndpointSlices and Nodes (and, with <see cref="KubernetesSourceSettings.NetworkPolicy"/>, Pods, Namespaces
/// and NetworkPolicies: <see cref="PolicyInputs"/>), their converted state in <see cref="ObjectStore{TWire,TModel}"/>s,
/// Services and slices written into the <see cref="ChangeTracker"/> (a relist through
/// <see cref="ChangeTracker.ReplaceAll"/> with the complete new state, so what did not change is not
/// touched). <see cref="Synced"/> once every resource was listed completely. While the API fails the
/// source is degraded (reported to <see cref="HealthState"/> and the <c>api_up</c> gauge) and the
/// tracker keeps the last state.
/// </summary>
public sealed partial class KubernetesSource : IServiceSource, INodeSource, IPolicySource, IDisposable
{
    private readonly IKubernetesApi _api;
    private readonly bool _ownsApi;
    private readonly KubernetesSourceSettings _settings;
    private readonly ILogger _logger;
    private readonly ProxyMetrics _metrics;
    private readonly HealthState? _health;
    private readonly TimeProvider _time;
    private readonly ProxyLabelFilter _filter;
    private readonly Lock _gate = new();
    private readonly ObjectStore<ServiceObject, Service> _services;
    private readonly ObjectStore<EndpointSliceObject, EndpointSlice> _slices;
    private readonly ObjectStore<NodeObject, Node> _nodes;
    private readonly Dictionary<string, (string Reason, DateTimeOffset Since)> _failing = new(StringComparer.Ordinal);
    private readonly Reflector<ServiceObject> _serviceReflector;
    private readonly Reflector<EndpointSliceObject> _sliceReflector;
    private readonly Reflector<NodeObject> _nodeReflector;
    private readonly ObjectStore<PodObject, Pod>? _pods;
    private readonly ObjectStore<NamespaceObject, PodNamespace>? _namespaces;
    private readonly ObjectStore<NetworkPolicyObject, NetworkPolicy>? _policies;
    private readonly Reflector<PodObject>? _podReflector;
    private readonly Reflector<NamespaceObject>? _namespaceReflector;
    private readonly Reflector<NetworkPolicyObject>? _policyReflector;
    private ImmutableDictionary<ObjectKey, Pod> _podSnapshot = ImmutableDictionary<ObjectKey, Pod>.Empty;
    private ImmutableDictionary<string, PodNamespace> _namespaceSnapshot = ImmutableDictionary<string, PodNamespace>.Empty;
    private ImmutableDictionary<ObjectKey, NetworkPolicy> _policySnapshot = ImmutableDictionary<ObjectKey, NetworkPolicy>.Empty;
    private PolicyInputs _policyInputs = PolicyInputs.Empty;
    private ImmutableSortedDictionary<string, Node> _nodeSnapshot = ImmutableSortedDictionary<string, Node>.Empty;
    private ChangeTracker? _tracker;
    private Action _changed = () => { };
    private volatile bool _synced;
    private SourceCondition _condition = SourceCondition.Ok;

    public KubernetesSource(IKubernetesApi api, KubernetesSourceSettings settings, ILoggerFactory loggers, ProxyMetrics metrics,
        HealthState? health = null, TimeProvider? time = null, bool ownsApi = false)
    {
        _api = api;
        _ownsApi = ownsApi;
        _settings = settings;
        _logger = loggers.CreateLogger<KubernetesSource>();
        _metrics = metrics;
        _health = health;
        _time = time ?? TimeProvider.System;
        _filter = new ProxyLabelFilter(settings.ServiceProxyName);
        _services = new(ApiResources.Services.Name, namespaced: true, _gate, item => ApiObjectConversion.Service(item, _filter),
            _ => ReplaceTracked(), (key, service) => Tracked(service is null ? _tracker!.DeleteService(key) : _tracker!.UpsertService(service)),
            Rejected, Condition);
        _slices = new(ApiResources.EndpointSlices.Name, namespaced: true, _gate, item => ApiObjectConversion.EndpointSlice(item, _filter),
            _ => ReplaceTracked(), (key, slice) => Tracked(slice is null ? _tracker!.DeleteEndpointSlice(key) : _tracker!.UpsertEndpointSlice(slice)),
            Rejected, Condition);
        _nodes = new(ApiResources.Nodes.Name, namespaced: false, _gate, ApiObjectConversion.Node,
            store => PublishNodes(store.Current), (_, _) => PublishNodes(_nodes!.Current), Rejected, Condition);

        var reflectorLogger = loggers.CreateLogger<Reflector<ServiceObject>>();
        _serviceReflector = new(api, ApiResources.Services, _filter.Selector, _services, settings.Reflector, metrics.Kubernetes, reflectorLogger, _time);
        _sliceReflector = new(api, ApiResources.EndpointSlices, _filter.Selector, _slices, settings.Reflector, metrics.Kubernetes, reflectorLogger, _time);
        _nodeReflector = new(api, ApiResources.Nodes, null, _nodes, settings.Reflector, metrics.Kubernetes, reflectorLogger, _time);
        if (settings.NetworkPolicy)
        {
            // Each change updates its kind's immutable map in place (O(log n)); a relist rebuilds it.
            _pods = new(ApiResources.Pods.Name, namespaced: true, _gate, ApiObjectConversion.Pod,
                store => PublishPolicyInputs(pods: store.Current.ToImmutableDictionary(pod => pod.Key)),
                (key, pod) => PublishPolicyInputs(pods: pod is null ? _podSnapshot.Remove(key) : _podSnapshot.SetItem(key, pod)),
                Rejected, Condition);
            _namespaces = new(ApiResources.Namespaces.Name, namespaced: false, _gate, ApiObjectConversion.Namespace,
                store => PublishPolicyInputs(namespaces: store.Current.ToImmutableDictionary(ns => ns.Name, StringComparer.Ordinal)),
                (key, ns) => PublishPolicyInputs(namespaces: ns is null ? _namespaceSnapshot.Remove(key.Name) : _namespaceSnapshot.SetItem(key.Name, ns)),
                Rejected, Condition);
            _policies = new(ApiResources.NetworkPolicies.Name, namespaced: true, _gate, ApiObjectConversion.NetworkPolicy,
                store => PublishPolicyInputs(policies: store.Current.ToImmutableDictionary(policy => policy.Key)),
                (key, policy) => PublishPolicyInputs(policies: policy is null ? _policySnapshot.Remove(key) : _policySnapshot.SetItem(key, policy)),
                Rejected, Condition);
            _podReflector = new(api, ApiResources.Pods, null, _pods, settings.Reflector, metrics.Kubernetes, reflectorLogger, _time);
            _namespaceReflector = new(api, ApiResources.Namespaces, null, _namespaces, settings.Reflector, metrics.Kubernetes, reflectorLogger, _time);
            _policyReflector = new(api, ApiResources.NetworkPolicies, null, _policies, settings.Reflector, metrics.Kubernetes, reflectorLogger, _time);
        }
    }

    /// <summary>Pods, Namespaces and NetworkPolicies (empty unless <see cref="KubernetesSourceSettings.NetworkPolicy"/>).</summary>
    public PolicyInputs PolicyInputs => Volatile.Read(ref _policyInputs);

    /// <summary>Raised when a Pod, Namespace or NetworkPolicy changed in a field the model keeps, or a policy was rejected.</summary>
    public event Action? PolicyInputsChanged;

    /// <summary>The resourceVersion a resource's watch continues from ("" before its first list).</summary>
    public string ResourceVersion(string resource) => resource switch
    {
        "services" => _serviceReflector.ResourceVersion,
        "endpointslices" => _sliceReflector.ResourceVersion,
        "nodes" => _nodeReflector.ResourceVersion,
        "pods" when _podReflector is not null => _podReflector.ResourceVersion,
        "namespaces" when _namespaceReflector is not null => _namespaceReflector.ResourceVersion,
        "networkpolicies" when _policyReflector is not null => _policyReflector.ResourceVersion,
        _ => throw new ArgumentException($"unknown resource '{resource}'", nameof(resource)),
    };

    public string Description => $"Kubernetes API {_settings.Server}";

    public bool Synced => _synced;

    /// <summary>Every Node by name.</summary>
    public ImmutableSortedDictionary<string, Node> Nodes => Volatile.Read(ref _nodeSnapshot);

    IReadOnlyDictionary<string, Node> INodeSource.Nodes => Nodes;

    public string NodeName => _settings.NodeName;

    /// <summary>Raised when the Nodes changed in a field the model keeps (not on every status heartbeat).</summary>
    public event Action? NodesChanged;

    /// <summary>This node (<see cref="KubernetesSourceSettings.NodeName"/>), once listed.</summary>
    public Node? ThisNode => Nodes.GetValueOrDefault(_settings.NodeName);

    /// <summary>Whether every resource's calls work, and if not what fails since when.</summary>
    public SourceCondition CurrentCondition()
    {
        lock (_gate) return _condition;
    }

    /// <summary>The objects currently skipped as malformed, as "resource namespace/name: reason".</summary>
    public IReadOnlyList<string> RejectedObjects()
    {
        lock (_gate)
        {
            return _services.Rejected.Select(pair => $"{_services.Resource} {pair.Key}: {pair.Value}")
                .Concat(_slices.Rejected.Select(pair => $"{_slices.Resource} {pair.Key}: {pair.Value}"))
                .Concat(_nodes.Rejected.Select(pair => $"{_nodes.Resource} {pair.Key.Name}: {pair.Value}"))
                .Concat(_pods?.Rejected.Select(pair => $"{_pods.Resource} {pair.Key}: {pair.Value}") ?? [])
                .Concat(_namespaces?.Rejected.Select(pair => $"{_namespaces.Resource} {pair.Key.Name}: {pair.Value}") ?? [])
                .Concat(_policies?.Rejected.Select(pair => $"{_policies.Resource} {pair.Key}: {pair.Value}") ?? [])
                .ToList();
        }
    }

    public async Task RunAsync(ChangeTracker tracker, Action changed, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _tracker = tracker;
            _changed = changed;
        }
        _metrics.Kubernetes.Enabled = true;
        LogStarting(_logger, _settings.Server, _filter.Selector, _settings.NodeName);
        var reflectors = new List<Task>
        {
            Task.Run(() => _serviceReflector.RunAsync(cancellationToken), cancellationToken),
            Task.Run(() => _sliceReflector.RunAsync(cancellationToken), cancellationToken),
            Task.Run(() => _nodeReflector.RunAsync(cancellationToken), cancellationToken),
        };
        if (_podReflector is not null && _namespaceReflector is not null && _policyReflector is not null)
        {
            reflectors.Add(Task.Run(() => _podReflector.RunAsync(cancellationToken), cancellationToken));
            reflectors.Add(Task.Run(() => _namespaceReflector.RunAsync(cancellationToken), cancellationToken));
            reflectors.Add(Task.Run(() => _policyReflector.RunAsync(cancellationToken), cancellationToken));
        }
        try
        {
            await Task.WhenAll(reflectors).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // shutdown
        }
    }

    public void Dispose()
    {
        if (_ownsApi)
            (_api as IDisposable)?.Dispose();
    }

    /// <summary>After a list: the tracker gets the complete state of both kinds (unchanged objects are no-ops).</summary>
    private void ReplaceTracked()
    {
        Tracked(_tracker!.ReplaceAll(_services.Current, _slices.Current));
        CheckSynced();
    }

    private void Tracked(bool anyChange)
    {
        if (anyChange && _synced)
            _changed();
    }

    private void CheckSynced()
    {
        if (_synced || !_services.Listed || !_slices.Listed || !_nodes.Listed)
            return;
        if (_pods is { Listed: false } || _namespaces is { Listed: false } || _policies is { Listed: false })
            return; // policies enforced from the first sync on: never a moment with pods open that a policy isolates
        _synced = true;
        UpdateUp();
        LogSynced(_logger, _services.Current.Count, _slices.Current.Count, _nodes.Current.Count);
        if (ThisNode is null)
            LogNodeMissing(_logger, _settings.NodeName);
        _changed(); // the first sync, even of an empty state: it makes the daemon ready
    }

    private void PublishNodes(IReadOnlyCollection<Node> nodes)
    {
        var previous = ThisNode;
        var before = Nodes;
        Volatile.Write(ref _nodeSnapshot, nodes.ToImmutableSortedDictionary(node => node.Name, node => node, StringComparer.Ordinal));
        if (ThisNode is { } current && current != previous)
            LogThisNode(_logger, current.ToString());
        var after = Nodes;
        if (before.Count != after.Count || before.Any(pair => !after.TryGetValue(pair.Key, out var node) || node != pair.Value))
            NodesChanged?.Invoke();
        CheckSynced();
    }

    /// <summary>Publishes the policy inputs with the kinds given replaced (called under the gate); raises the event when they changed.</summary>
    private void PublishPolicyInputs(ImmutableDictionary<ObjectKey, Pod>? pods = null,
        ImmutableDictionary<string, PodNamespace>? namespaces = null, ImmutableDictionary<ObjectKey, NetworkPolicy>? policies = null)
    {
        var changed = (pods is not null && pods != _podSnapshot) || (namespaces is not null && namespaces != _namespaceSnapshot) ||
            (policies is not null && policies != _policySnapshot);
        _podSnapshot = pods ?? _podSnapshot;
        _namespaceSnapshot = namespaces ?? _namespaceSnapshot;
        _policySnapshot = policies ?? _policySnapshot;
        var rejected = _policies!.Rejected
            .OrderBy(pair => pair.Key)
            .Select(pair => new PolicyProblem(pair.Key, PolicyProblemReason.Of(pair.Value), pair.Value, Skipped: !_policySnapshot.ContainsKey(pair.Key)))
            .ToList();
        var previous = _policyInputs;
        changed |= !previous.Rejected.SequenceEqual(rejected);
        if (changed)
        {
            Volatile.Write(ref _policyInputs, new PolicyInputs(_podSnapshot, _namespaceSnapshot, _policySnapshot, rejected));
            PolicyInputsChanged?.Invoke();
        }
        CheckSynced();
    }

    private void Rejected(string resource, ObjectKey? key, string description)
    {
        _metrics.Kubernetes.ObjectsRejected.Increment(KubernetesMetrics.ResourceLabel(resource));
        LogRejected(_logger, resource, description);
        if (_policies is not null && resource == _policies.Resource)
            PublishPolicyInputs(); // the problem list (proxyreplacement_policy_problems) follows at once
    }

    /// <summary>A reflector's report: <paramref name="failure"/> null means its calls work again.</summary>
    private void Condition(string resource, string? failure)
    {
        lock (_gate)
        {
            var wasDegraded = _failing.Count > 0;
            if (failure is null)
            {
                if (!_failing.Remove(resource, out var ended))
                    return;
                LogRecovered(_logger, resource, (_time.GetUtcNow() - ended.Since).TotalSeconds);
            }
            else
            {
                var since = _failing.TryGetValue(resource, out var existing) ? existing.Since : _time.GetUtcNow();
                _failing[resource] = (failure, since);
                if (!wasDegraded)
                    LogDegraded(_logger, failure);
            }
            _condition = _failing.Count == 0
                ? SourceCondition.Ok
                : SourceCondition.Failing(
                    string.Join("; ", _failing.OrderBy(pair => pair.Key, StringComparer.Ordinal).Select(pair => $"{pair.Key}: {pair.Value.Reason}")),
                    _failing.Values.Min(value => value.Since));
            _health?.ReportSource(_condition);
            UpdateUp();
        }
    }

    private void UpdateUp() => _metrics.Kubernetes.ApiUp.Set(_synced && _failing.Count == 0 ? 1 : 0);

    [LoggerMessage(Level = LogLevel.Information, Message = "Watching the Kubernetes API {Server}: Services and EndpointSlices with selector '{Selector}', all Nodes (this node: {Node})")]
    private static partial void LogStarting(ILogger logger, string server, string selector, string node);

    [LoggerMessage(Level = LogLevel.Information, Message = "Kubernetes source synced: {Services} services, {Slices} endpoint slices, {Nodes} nodes")]
    private static partial void LogSynced(ILogger logger, int services, int slices, int nodes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "No Node named {Node} (check --hostname-override): node addresses and zone are unknown")]
    private static partial void LogNodeMissing(ILogger logger, string node);

    [LoggerMessage(Level = LogLevel.Information, Message = "This node: {Node}")]
    private static partial void LogThisNode(ILogger logger, string node);

    [LoggerMessage(Level = LogLevel.Error, Message = "Skipped a malformed {Resource} from the API: {Description}; its last good state, if any, stays programmed")]
    private static partial void LogRejected(ILogger logger, string resource, string description);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kubernetes source degraded: {Reason}; the dataplane keeps serving its last state")]
    private static partial void LogDegraded(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Kubernetes API works again for {Resource} after {Seconds:F1} s")]
    private static partial void LogRecovered(ILogger logger, string resource, double seconds);
}
