using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using k8s;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Config;

/// <summary>
/// The configuration of a pod, as KubernetesClient's <c>InClusterConfig()</c> builds it, but from a given
/// environment and directory (tests use their own) and with errors that name what is missing:
/// <c>KUBERNETES_SERVICE_HOST</c>/<c>_PORT</c> name the API server, the service-account directory holds
/// <c>token</c> (re-read when it rotates: <see cref="FileTokenProvider"/>), <c>ca.crt</c> and <c>namespace</c>.
/// </summary>
public static class InClusterConfig
{
    public const string DefaultDirectory = "/var/run/secrets/kubernetes.io/serviceaccount";
    public const string HostVariable = "KUBERNETES_SERVICE_HOST";
    public const string PortVariable = "KUBERNETES_SERVICE_PORT";
    private const string Origin = "in-cluster configuration";

    /// <summary>True when the process looks like it runs in a pod (both variables set).</summary>
    public static bool IsPresent(Func<string, string?> environment) =>
        !string.IsNullOrEmpty(environment(HostVariable)) && !string.IsNullOrEmpty(environment(PortVariable));

    public static ClusterConnection Load(Func<string, string?> environment, string directory = DefaultDirectory)
    {
        var host = environment(HostVariable);
        var portText = environment(PortVariable);
        if (string.IsNullOrEmpty(host))
            throw new ClusterConfigException(Origin, HostVariable, "not set (the API server's address, set by the kubelet in every pod)");
        if (string.IsNullOrEmpty(portText))
            throw new ClusterConfigException(Origin, PortVariable, "not set");
        if (!int.TryParse(portText, out var port) || port is < 1 or > 65535)
            throw new ClusterConfigException(Origin, PortVariable, $"'{portText}' is not a port number");
        var hostPart = IPAddress.TryParse(host, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{host}]" : host;
        if (!Uri.TryCreate($"https://{hostPart}:{port}", UriKind.Absolute, out var server))
            throw new ClusterConfigException(Origin, HostVariable, $"'{host}' is not a host name or IP address");

        var tokenPath = Path.Combine(directory, "token");
        var caPath = Path.Combine(directory, "ca.crt");
        FileTokenProvider token;
        try
        {
            token = new FileTokenProvider(tokenPath);
        }
        catch (FileNotFoundException)
        {
            throw new ClusterConfigException(Origin, tokenPath, "the service-account token does not exist or is empty (is automountServiceAccountToken off?)");
        }
        var ca = new X509Certificate2Collection();
        try
        {
            ca.ImportFromPemFile(caPath);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new ClusterConfigException(Origin, caPath, $"cannot read the cluster CA: {error.Message}");
        }
        if (ca.Count == 0)
            throw new ClusterConfigException(Origin, caPath, "holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        var namespacePath = Path.Combine(directory, "namespace");
        return new ClusterConnection(new KubernetesClientConfiguration
        {
            Host = server.ToString(),
            SslCaCerts = ca,
            TokenProvider = token,
            Namespace = File.Exists(namespacePath) ? File.ReadAllText(namespacePath).Trim() : null,
        }, $"in-cluster, service account {directory}");
    }
}
