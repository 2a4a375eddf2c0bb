namespace ProxyReplacement.ServiceProxy.Kubernetes.Config;

/// <summary>
/// A kubeconfig or in-cluster configuration that cannot be used. The message says where
/// (<see cref="Origin"/>: the file, or "in-cluster"), which field, and what is wrong. Exit code 2.
/// </summary>
public sealed class ClusterConfigException(string origin, string? field, string problem)
    : Exception(field is null ? $"{origin}: {problem}" : $"{origin}: {field}: {problem}")
{
    public string Origin { get; } = origin;
    public string? Field { get; } = field;
}
