using System.Text.Json.Serialization.Metadata;
using ProxyReplacement.ServiceProxy.Kubernetes.Objects;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Api;

/// <summary>A resource the proxy lists and watches: its name (for logs and metrics), URL path and JSON type.</summary>
public sealed record ApiResource<T>(string Name, string Path, JsonTypeInfo<T> TypeInfo) where T : class, IKubernetesObject
{
    public override string ToString() => Name;
}

public static class ApiResources
{
    public static readonly ApiResource<ServiceObject> Services = new("services", "api/v1/services", KubernetesJson.Default.ServiceObject);

    public static readonly ApiResource<EndpointSliceObject> EndpointSlices =
        new("endpointslices", "apis/discovery.k8s.io/v1/endpointslices", KubernetesJson.Default.EndpointSliceObject);

    public static readonly ApiResource<NodeObject> Nodes = new("nodes", "api/v1/nodes", KubernetesJson.Default.NodeObject);
}
