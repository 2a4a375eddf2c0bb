using ProxyReplacement.ServiceProxy.Kubernetes.Watching;

namespace ProxyReplacement.ServiceProxy.Kubernetes;

/// <summary>What a <see cref="KubernetesSource"/> needs besides the API client.</summary>
public sealed record KubernetesSourceSettings
{
    /// <summary>Where the API is, for logs (<c>https://10.0.0.1:6443 (kubeconfig /root/.kube/config, context prod)</c>).</summary>
    public required string Server { get; init; }

    /// <summary>This node's name (<c>--hostname-override</c>): its Node gives the addresses and zone.</summary>
    public required string NodeName { get; init; }

    /// <summary><c>--service-proxy-name</c>: serve only Services labelled with it (null: only unlabelled ones).</summary>
    public string? ServiceProxyName { get; init; }

    /// <summary><c>--network-policy</c>: also watch Pods, Namespaces and NetworkPolicies (the policy module's inputs).</summary>
    public bool NetworkPolicy { get; init; }

    public ReflectorSettings Reflector { get; init; } = new();
}
