using ProxyReplacement.ServiceProxy.Kubernetes.Api;
using ProxyReplacement.ServiceProxy.Kubernetes.Objects;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Parsing;

namespace ProxyReplacement.ServiceProxy.Kubernetes;

/// <summary>
/// What became of one API object: the model (<see cref="Value"/>), not ours (neither value nor
/// rejection: headless, ExternalName, another proxy's), or malformed (<see cref="Rejection"/> says which
/// field and why). <see cref="Key"/> is null only when not even the name could be read.
/// </summary>
public sealed record Conversion<T>(ObjectKey? Key, T? Value, string? Rejection) where T : class
{
    public static Conversion<T> Accept(ObjectKey key, T value) => new(key, value, null);
    public static Conversion<T> Skip(ObjectKey key) => new(key, null, null);
    public static Conversion<T> Reject(ObjectKey? key, string reason) => new(key, null, reason);
}

/// <summary>
/// API objects -> model, through the rules the manifest reader uses (<see cref="ServiceRules"/>,
/// <see cref="EndpointSliceRules"/>, <see cref="ObjectMetaRules"/>) plus <see cref="NodeRules"/>.
/// Unlike a manifest, an API object always names its namespace, and the API has allocated a
/// Service's clusterIP.
/// </summary>
public static class ApiObjectConversion
{
    public static Conversion<Service> Service(ApiItem<ServiceObject> item, ProxyLabelFilter filter) =>
        Convert(item, namespaced: true, (service, key, labels) =>
            !filter.Accepts(labels) ? null : ServiceRules.ToModel(service.Spec, service.Status, service.Metadata?.Annotations, key.Namespace, key.Name, labels));

    public static Conversion<EndpointSlice> EndpointSlice(ApiItem<EndpointSliceObject> item, ProxyLabelFilter filter) =>
        Convert(item, namespaced: true, (slice, key, labels) =>
            !filter.Accepts(labels) ? null : EndpointSliceRules.ToModel(slice, key.Namespace, key.Name, labels, slice.Metadata?.Annotations));

    /// <summary>Nodes are cluster-scoped: the key's namespace is "".</summary>
    public static Conversion<Node> Node(ApiItem<NodeObject> item) =>
        Convert(item, namespaced: false, (node, key, labels) => NodeRules.ToModel(node, key.Name, labels));

    /// <summary>A Pod for the policy module.</summary>
    public static Conversion<Pod> Pod(ApiItem<PodObject> item) =>
        Convert(item, namespaced: true, (pod, key, labels) => PodRules.ToModel(pod, key, labels));

    /// <summary>Namespaces are cluster-scoped: the key's namespace is "".</summary>
    public static Conversion<PodNamespace> Namespace(ApiItem<NamespaceObject> item) =>
        Convert(item, namespaced: false, (_, key, labels) => NamespaceRules.ToModel(key.Name, labels));

    /// <summary>A NetworkPolicy; a rejection's text ends with its <see cref="PolicyProblemReason"/> in brackets.</summary>
    public static Conversion<NetworkPolicy> NetworkPolicy(ApiItem<NetworkPolicyObject> item) =>
        Convert(item, namespaced: true, (policy, key, _) => NetworkPolicyRules.ToModel(policy, key));

    /// <summary>The key of an item whose object may not have decoded (a DELETED event needs only this).</summary>
    public static ObjectKey? KeyOf<T>(ApiItem<T> item, bool namespaced) where T : class =>
        item.Name is { Length: > 0 } name && (!namespaced || item.Namespace is { Length: > 0 })
            ? new ObjectKey(namespaced ? item.Namespace! : "", name)
            : null;

    private static Conversion<TModel> Convert<TWire, TModel>(ApiItem<TWire> item, bool namespaced, Func<TWire, ObjectKey, Labels, TModel?> toModel)
        where TWire : class, IKubernetesObject
        where TModel : class
    {
        var fallbackKey = KeyOf(item, namespaced);
        if (item.Object is not { } wire)
            return Conversion<TModel>.Reject(fallbackKey, item.Error ?? "the object did not decode");
        try
        {
            var metadata = wire.Metadata ?? throw new ObjectValidationException("metadata: required");
            var (name, labels) = ObjectMetaRules.NameAndLabels(metadata);
            var @namespace = "";
            if (namespaced)
                @namespace = ObjectMetaRules.Namespace(metadata.Namespace is { Length: > 0 } ns ? ns : throw new ObjectValidationException("metadata.namespace: required"));
            var key = new ObjectKey(@namespace, name);
            return toModel(wire, key, labels) is { } model ? Conversion<TModel>.Accept(key, model) : Conversion<TModel>.Skip(key);
        }
        catch (ObjectValidationException error)
        {
            return Conversion<TModel>.Reject(fallbackKey, error.Message);
        }
    }
}
