using ProxyReplacement.ServiceProxy.Kubernetes.Config;
using ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi;

namespace ProxyReplacement.ServiceProxy.Tests.Kubernetes;

/// <summary>The pod's configuration, from a service-account directory of the test's own.</summary>
public sealed class InClusterConfigTests
{
    private string _directory = null!;
    private Dictionary<string, string> _environment = null!;

    [SetUp]
    public void CreateServiceAccount()
    {
        _directory = Directory.CreateTempSubdirectory("prt-serviceaccount-").FullName;
        _environment = new Dictionary<string, string> { [InClusterConfig.HostVariable] = "10.96.0.1", [InClusterConfig.PortVariable] = "443" };
    }

    [TearDown]
    public void Remove() => Directory.Delete(_directory, recursive: true);

    private string? Environment(string name) => _environment.GetValueOrDefault(name);

    private ClusterConnection Load() => InClusterConfig.Load(Environment, _directory);

    [Test]
    public void The_service_account_token_and_ca_and_the_service_variables_make_the_connection()
    {
        using var certificates = TestCertificates.Create();
        File.WriteAllText(Path.Combine(_directory, "token"), "sa-token-1");
        File.WriteAllText(Path.Combine(_directory, "ca.crt"), certificates.CaPem);

        var connection = Load();
        var token = (FileTokenProvider)connection.Configuration.TokenProvider!;
        var first = token.Current();
        var tokenPath = Path.Combine(_directory, "token");
        var written = File.GetLastWriteTimeUtc(tokenPath);
        File.WriteAllText(tokenPath, "sa-token-2"); // the kubelet rotates the projected token
        File.SetLastWriteTimeUtc(tokenPath, written.AddSeconds(1));

        Assert.Multiple(() =>
        {
            Assert.That(InClusterConfig.IsPresent(Environment), Is.True);
            Assert.That(connection.Server, Is.EqualTo(new Uri("https://10.96.0.1:443")));
            Assert.That(first, Is.EqualTo("sa-token-1"));
            Assert.That(token.Current(), Is.EqualTo("sa-token-2"), "a rotated token is read again");
            Assert.That(connection.Configuration.SslCaCerts!.Single().Thumbprint, Is.EqualTo(certificates.Ca.Thumbprint));
        });
    }

    [Test]
    public void An_ipv6_service_host_is_bracketed()
    {
        using var certificates = TestCertificates.Create();
        File.WriteAllText(Path.Combine(_directory, "token"), "t");
        File.WriteAllText(Path.Combine(_directory, "ca.crt"), certificates.CaPem);
        _environment[InClusterConfig.HostVariable] = "fd00::1";

        Assert.That(Load().Server, Is.EqualTo(new Uri("https://[fd00::1]:443")));
    }

    [Test]
    public void Each_missing_piece_is_named()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => Load(), Throws.TypeOf<ClusterConfigException>().With.Message.StartWith(
                $"in-cluster configuration: {Path.Combine(_directory, "token")}: the service-account token does not exist or is empty"));
            File.WriteAllText(Path.Combine(_directory, "token"), "t");
            Assert.That(() => Load(), Throws.TypeOf<ClusterConfigException>().With.Message.StartWith(
                $"in-cluster configuration: {Path.Combine(_directory, "ca.crt")}: cannot read the cluster CA"));
            _environment[InClusterConfig.PortVariable] = "https";
            Assert.That(() => Load(), Throws.TypeOf<ClusterConfigException>().With.Message.EqualTo(
                "in-cluster configuration: KUBERNETES_SERVICE_PORT: 'https' is not a port number"));
            _environment.Remove(InClusterConfig.HostVariable);
            Assert.That(InClusterConfig.IsPresent(Environment), Is.False);
            Assert.That(() => Load(), Throws.TypeOf<ClusterConfigException>().With.Message.StartWith(
                "in-cluster configuration: KUBERNETES_SERVICE_HOST: not set"));
        });
    }
}
