using k8s;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Config;

/// <summary>
/// How to reach and authenticate to one API server: the KubernetesClient configuration a kubeconfig
/// context or the in-cluster environment resolves to (server, CA or insecure, TLS server name, token,
/// token file, exec or auth-provider plugin, client certificate). <see cref="Origin"/> says where it
/// came from, for logs and errors.
/// </summary>
public sealed record ClusterConnection(KubernetesClientConfiguration Configuration, string Origin)
{
    public Uri Server => new(Configuration.Host);

    public override string ToString() => $"{Server} ({Origin})";
}
