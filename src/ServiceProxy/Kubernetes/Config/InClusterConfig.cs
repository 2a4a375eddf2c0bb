using System.Net;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Config;

/// <summary>
/// The configuration of a pod: <c>KUBERNETES_SERVICE_HOST</c>/<c>_PORT</c> name the API server, the
/// service-account directory holds <c>token</c> (re-read when it rotates) and <c>ca.crt</c>. The
/// directory is a parameter so tests can use their own.
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
        FileBearerToken token;
        try
        {
            token = new FileBearerToken(tokenPath);
        }
        catch (FileNotFoundException)
        {
            throw new ClusterConfigException(Origin, tokenPath, "the service-account token does not exist or is empty (is automountServiceAccountToken off?)");
        }
        string caPem;
        try
        {
            caPem = File.ReadAllText(caPath);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new ClusterConfigException(Origin, caPath, $"cannot read the cluster CA: {error.Message}");
        }
        return new ClusterConnection(server, $"in-cluster, service account {directory}")
        {
            Token = token,
            CertificateAuthorities = Pem.Certificates(caPem, Origin, caPath),
        };
    }
}
