using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi;

/// <summary>
/// A throw-away PKI made in the test: a self-signed CA, a server certificate it signed for 127.0.0.1 and
/// localhost, and a client certificate it signed (CN <c>system:node:test</c>), with PEM forms for kubeconfigs.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private TestCertificates(X509Certificate2 ca, X509Certificate2 server, X509Certificate2 client, string clientKeyPem)
    {
        Ca = ca;
        Server = server;
        Client = client;
        ClientKeyPem = clientKeyPem;
    }

    public X509Certificate2 Ca { get; }
    public X509Certificate2 Server { get; }
    public X509Certificate2 Client { get; }
    public string CaPem => Ca.ExportCertificatePem();
    public string ClientCertificatePem => Client.ExportCertificatePem();
    public string ClientKeyPem { get; }

    public static TestCertificates Create(string caName = "fake-api-ca")
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest($"CN={caName}", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        var ca = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));

        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        var server = Issue(ca, "CN=fake-api-server", new Oid("1.3.6.1.5.5.7.3.1"), san.Build(), out _);
        var client = Issue(ca, "CN=system:node:test", new Oid("1.3.6.1.5.5.7.3.2"), null, out var clientKeyPem);
        return new TestCertificates(ca, server, client, clientKeyPem);
    }

    /// <summary>True when <paramref name="certificate"/> chains to this CA.</summary>
    public bool Issued(X509Certificate2 certificate)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }

    private static X509Certificate2 Issue(X509Certificate2 ca, string subject, Oid usage, X509Extension? san, out string keyPem)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([usage], false));
        if (san is not null)
            request.CertificateExtensions.Add(san);
        var serial = RandomNumberGenerator.GetBytes(12);
        var now = DateTimeOffset.UtcNow;
        using var issued = request.Create(ca, now.AddMinutes(-5), now.AddHours(12), serial);
        keyPem = key.ExportPkcs8PrivateKeyPem();
        // Through PKCS#12 so the key is usable by SslStream on every platform.
        using var withKey = issued.CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    public void Dispose()
    {
        Ca.Dispose();
        Server.Dispose();
        Client.Dispose();
    }
}
