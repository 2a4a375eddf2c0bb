using System.Security.Cryptography.X509Certificates;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Config;

/// <summary>
/// How to reach and authenticate to one API server: what a kubeconfig context or the in-cluster
/// environment resolves to. <see cref="Origin"/> says where it came from, for logs and errors.
/// </summary>
public sealed record ClusterConnection(Uri Server, string Origin)
{
    /// <summary>Roots that the server's certificate must chain to; null trusts the system's roots.</summary>
    public X509Certificate2Collection? CertificateAuthorities { get; init; }

    /// <summary>kubeconfig <c>insecure-skip-tls-verify</c>: accept any server certificate.</summary>
    public bool InsecureSkipTlsVerify { get; init; }

    /// <summary>kubeconfig <c>tls-server-name</c>: the name to verify instead of the server URL's host.</summary>
    public string? TlsServerName { get; init; }

    public IBearerToken? Token { get; init; }

    /// <summary>A client certificate with its private key, presented in the TLS handshake.</summary>
    public X509Certificate2? ClientCertificate { get; init; }

    public override string ToString() => $"{Server} ({Origin})";
}
