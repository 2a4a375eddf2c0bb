using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using ProxyReplacement.ServiceProxy.Kubernetes.Config;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Api;

/// <summary>The HTTP handler for one <see cref="ClusterConnection"/>: its server verification and client certificate.</summary>
internal static class ApiHttpHandler
{
    public static SocketsHttpHandler Create(ClusterConnection connection, TimeSpan connectTimeout)
    {
        var tls = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, certificate, _, errors) => VerifyServer(connection, certificate, errors),
        };
        if (connection.TlsServerName is { } serverName)
            tls.TargetHost = serverName;
        if (connection.ClientCertificate is { } clientCertificate)
            tls.ClientCertificates = new X509CertificateCollection { clientCertificate };
        return new SocketsHttpHandler
        {
            SslOptions = tls,
            ConnectTimeout = connectTimeout,
            // A watch is one long response; new connections pick up DNS and server changes.
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
            AutomaticDecompression = System.Net.DecompressionMethods.All,
            UseProxy = false,
        };
    }

    /// <summary>
    /// Insecure: anything goes. With a CA from the configuration: the chain must end at one of those
    /// roots (and the name must match). Without: the system's verdict.
    /// </summary>
    private static bool VerifyServer(ClusterConnection connection, X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (connection.InsecureSkipTlsVerify)
            return true;
        if (connection.CertificateAuthorities is not { } roots)
            return errors == SslPolicyErrors.None;
        if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
            return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return chain.Build(leaf);
    }
}
