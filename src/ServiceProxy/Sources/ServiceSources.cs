using Microsoft.Extensions.Logging;
using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Kubernetes;
using ProxyReplacement.ServiceProxy.Kubernetes.Api;
using ProxyReplacement.ServiceProxy.Kubernetes.Config;
using ProxyReplacement.ServiceProxy.Options;

namespace ProxyReplacement.ServiceProxy.Sources;

/// <summary>
/// Builds the source <see cref="SourceSelection"/> chose, loading its configuration now, before the
/// daemon touches the kernel: a broken kubeconfig fails the start (<see cref="ClusterConfigException"/>, exit 2).
/// </summary>
public static class ServiceSources
{
    public static IServiceSource Create(ProxyOptions options, Func<string, string?> environment, ILoggerFactory loggers,
        ProxyMetrics metrics, HealthState health, string inClusterDirectory = InClusterConfig.DefaultDirectory)
    {
        var choice = SourceSelection.Choose(options, environment);
        var connection = choice switch
        {
            SourceChoice.ManifestDirectory manifest => null,
            SourceChoice.Kubeconfig kubeconfig => Kubeconfig.Load(kubeconfig.Paths),
            SourceChoice.InCluster => InClusterConfig.Load(environment, inClusterDirectory),
            _ => throw new InvalidOperationException($"unknown source choice {choice}"),
        };
        if (connection is null)
            return new ManifestDirectorySource(((SourceChoice.ManifestDirectory)choice).Directory, loggers.CreateLogger<ManifestDirectorySource>(), metrics,
                options.HostnameOverride, options.NetworkPolicy);

        var settings = new KubernetesSourceSettings
        {
            Server = connection.ToString(),
            NodeName = options.HostnameOverride,
            ServiceProxyName = options.ServiceProxyName,
            NetworkPolicy = options.NetworkPolicy,
        };
        return new KubernetesSource(new KubernetesApiClient(connection, options.ApiTimeout), settings, loggers, metrics, health, ownsApi: true);
    }
}
