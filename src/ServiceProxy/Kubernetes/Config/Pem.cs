using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Config;

/// <summary>Certificates and keys from PEM text, failing with the field they came from.</summary>
internal static class Pem
{
    public static X509Certificate2Collection Certificates(string pem, string origin, string field)
    {
        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPem(pem);
        }
        catch (CryptographicException error)
        {
            throw new ClusterConfigException(origin, field, $"not a valid PEM certificate: {error.Message}");
        }
        if (certificates.Count == 0)
            throw new ClusterConfigException(origin, field, "holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        return certificates;
    }

    public static X509Certificate2 CertificateWithKey(string certificatePem, string keyPem, string origin, string field)
    {
        try
        {
            return X509Certificate2.CreateFromPem(certificatePem, keyPem);
        }
        catch (CryptographicException error)
        {
            throw new ClusterConfigException(origin, field, $"cannot load the client certificate with its key: {error.Message}");
        }
        catch (ArgumentException error)
        {
            throw new ClusterConfigException(origin, field, $"cannot load the client certificate with its key: {error.Message}");
        }
    }
}
