using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Kubernetes;

/// <summary>
/// kube-proxy's label rules for Services and EndpointSlices: skip objects labelled
/// <c>service.kubernetes.io/headless</c>; serve only those without <c>service.kubernetes.io/service-proxy-name</c>,
/// or, when this proxy has a name, only those carrying it. Sent as the list/watch label selector (the
/// server filters) and applied again to every object (a server or proxy that ignores the selector).
/// </summary>
public sealed record ProxyLabelFilter(string? ServiceProxyName)
{
    public const string HeadlessLabel = "service.kubernetes.io/headless";
    public const string ServiceProxyNameLabel = "service.kubernetes.io/service-proxy-name";

    public string Selector => ServiceProxyName is null
        ? $"!{ServiceProxyNameLabel},!{HeadlessLabel}"
        : $"{ServiceProxyNameLabel}={ServiceProxyName},!{HeadlessLabel}";

    public bool Accepts(Labels labels) =>
        !labels.ContainsKey(HeadlessLabel) &&
        (labels.TryGetValue(ServiceProxyNameLabel, out var name) ? name == ServiceProxyName : ServiceProxyName is null);
}
