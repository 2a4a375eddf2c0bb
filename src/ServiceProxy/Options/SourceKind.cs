namespace ProxyReplacement.ServiceProxy.Options;

/// <summary><c>--source</c>: where Services and EndpointSlices come from.</summary>
public enum SourceKind
{
    /// <summary>Kubernetes when a kubeconfig is given (flag or <c>KUBECONFIG</c>) or the process runs in a pod; otherwise the manifest directory.</summary>
    Auto,
    Kubernetes,
    Manifest,
}
