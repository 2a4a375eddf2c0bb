using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using k8s.Models;
using ProxyReplacement.ServiceProxy.Kubernetes.Objects;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Api;

/// <summary>
/// A resource the proxy lists and watches: its name (for logs and metrics), URL path, and how one raw
/// object becomes the wire record the rules read: decoded as the KubernetesClient model
/// (<see cref="V1Service"/>, ...) with the package's JSON, then mapped (<see cref="ModelMapping"/>).
/// </summary>
public sealed record ApiResource<T>(string Name, string Path, Func<JsonElement, ApiItem<T>> Decode) where T : class, IKubernetesObject
{
    public override string ToString() => Name;
}

public static class ApiResources
{
    public static readonly ApiResource<ServiceObject> Services = Create<V1Service, ServiceObject>("services", "api/v1/services", ModelMapping.Service);

    public static readonly ApiResource<EndpointSliceObject> EndpointSlices =
        Create<V1EndpointSlice, EndpointSliceObject>("endpointslices", "apis/discovery.k8s.io/v1/endpointslices", ModelMapping.EndpointSlice);

    public static readonly ApiResource<NodeObject> Nodes = Create<V1Node, NodeObject>("nodes", "api/v1/nodes", ModelMapping.Node);

    public static readonly ApiResource<PodObject> Pods = Create<V1Pod, PodObject>("pods", "api/v1/pods", ModelMapping.Pod);

    public static readonly ApiResource<NamespaceObject> Namespaces = Create<V1Namespace, NamespaceObject>("namespaces", "api/v1/namespaces", ModelMapping.Namespace);

    public static readonly ApiResource<NetworkPolicyObject> NetworkPolicies =
        Create<V1NetworkPolicy, NetworkPolicyObject>("networkpolicies", "apis/networking.k8s.io/v1/networkpolicies", ModelMapping.NetworkPolicy);

    private static ApiResource<TWire> Create<TModel, TWire>(string name, string path, Func<TModel, TWire> map)
        where TModel : class
        where TWire : class, IKubernetesObject
    {
        // The package's metadata for a model is built by reflection over its whole type graph (V1Pod's is hundreds of
        // types): at the first decode of that resource, on the reflector's thread beside the dataplane load, not when
        // the daemon starts, and never for the resources it does not watch (Pods, Namespaces, NetworkPolicies without
        // --network-policy). BENCHMARKS.md, cold start.
        var typeInfo = new Lazy<JsonTypeInfo<TModel>>(() => (JsonTypeInfo<TModel>)PackageJson.Options.GetTypeInfo(typeof(TModel)));
        return new ApiResource<TWire>(name, path, element => ItemDecoder.Decode(element, typeInfo.Value, map));
    }
}

/// <summary>KubernetesClient's JSON settings (its source-generated model metadata, camelCase, its date and enum converters).</summary>
public static class PackageJson
{
    public static readonly JsonSerializerOptions Options = new k8s.KubernetesClientConfiguration().JsonSerializerOptions;
}
