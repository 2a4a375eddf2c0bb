using System.Text;
using ProxyReplacement.ServiceProxy.Kubernetes.Config;
using ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi;

namespace ProxyReplacement.ServiceProxy.Tests.Kubernetes;

/// <summary>kubeconfig loading: what each supported field resolves to, and the message for each way it can be broken.</summary>
public sealed class KubeConfigLoaderTests
{
    private string _directory = null!;

    [SetUp]
    public void CreateDirectory() => _directory = Directory.CreateTempSubdirectory("prt-kubeconfig-").FullName;

    [TearDown]
    public void RemoveDirectory() => Directory.Delete(_directory, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static string Base64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    private static string Config(string cluster, string user = "token: abc", string context = "cluster: c\n    user: u", string current = "ctx") => $"""
        apiVersion: v1
        kind: Config
        current-context: {current}
        clusters:
        - name: c
          cluster:
            {cluster}
        contexts:
        - name: ctx
          context:
            {context}
        users:
        - name: u
          user:
            {user}
        """;

    [Test]
    public void A_token_and_ca_data_resolve_to_a_verified_connection()
    {
        using var certificates = TestCertificates.Create();
        var path = Write("config", Config($"server: https://10.0.0.1:6443\n    certificate-authority-data: {Base64(certificates.CaPem)}"));

        var connection = KubeConfigLoader.Load(path);

        Assert.Multiple(() =>
        {
            Assert.That(connection.Server, Is.EqualTo(new Uri("https://10.0.0.1:6443")));
            Assert.That(connection.Token?.Current(), Is.EqualTo("abc"));
            Assert.That(connection.CertificateAuthorities!.Single().Thumbprint, Is.EqualTo(certificates.Ca.Thumbprint));
            Assert.That(connection.InsecureSkipTlsVerify, Is.False);
            Assert.That(connection.Origin, Is.EqualTo($"kubeconfig {path}, context ctx"));
        });
    }

    [Test]
    public void Files_named_relative_to_the_kubeconfig_are_read_from_its_directory()
    {
        using var certificates = TestCertificates.Create();
        Directory.CreateDirectory(Path.Combine(_directory, "pki"));
        Write("pki/ca.crt", certificates.CaPem);
        Write("pki/client.crt", certificates.ClientCertificatePem);
        Write("pki/client.key", certificates.ClientKeyPem);
        Write("token", "from-file\n");
        var path = Write("config", Config("server: https://api.example:443\n    certificate-authority: pki/ca.crt\n    tls-server-name: kubernetes",
            "tokenFile: token\n    client-certificate: pki/client.crt\n    client-key: pki/client.key"));

        var connection = KubeConfigLoader.Load(path);

        Assert.Multiple(() =>
        {
            Assert.That(connection.CertificateAuthorities, Has.Count.EqualTo(1));
            Assert.That(connection.Token, Is.TypeOf<FileBearerToken>());
            Assert.That(connection.Token!.Current(), Is.EqualTo("from-file"));
            Assert.That(connection.ClientCertificate?.Subject, Is.EqualTo("CN=system:node:test"));
            Assert.That(connection.ClientCertificate?.HasPrivateKey, Is.True);
            Assert.That(connection.TlsServerName, Is.EqualTo("kubernetes"));
        });
    }

    [Test]
    public void Client_certificate_data_and_insecure_skip_tls_verify()
    {
        using var certificates = TestCertificates.Create();
        var path = Write("config", Config("server: https://10.0.0.1\n    insecure-skip-tls-verify: true",
            $"client-certificate-data: {Base64(certificates.ClientCertificatePem)}\n    client-key-data: {Base64(certificates.ClientKeyPem)}"));

        var connection = KubeConfigLoader.Load(path);

        Assert.Multiple(() =>
        {
            Assert.That(connection.InsecureSkipTlsVerify, Is.True);
            Assert.That(connection.CertificateAuthorities, Is.Null);
            Assert.That(connection.Token, Is.Null);
            Assert.That(connection.ClientCertificate?.HasPrivateKey, Is.True);
        });
    }

    [Test]
    public void Several_files_merge_as_kubectl_merges_them_the_first_one_winning()
    {
        var first = Write("first", """
            current-context: prod
            contexts:
            - name: prod
              context: {cluster: shared, user: admin}
            users:
            - name: admin
              user: {token: first-token}
            """);
        var second = Write("second", """
            current-context: ignored
            clusters:
            - name: shared
              cluster: {server: "https://prod.example:6443"}
            users:
            - name: admin
              user: {token: second-token}
            """);

        var connection = KubeConfigLoader.Load(KubeConfigLoader.SplitPathList($"{first}::{second}"));

        Assert.Multiple(() =>
        {
            Assert.That(connection.Server.Host, Is.EqualTo("prod.example"));
            Assert.That(connection.Token?.Current(), Is.EqualTo("first-token"));
        });
    }

    private static IEnumerable<TestCaseData> BrokenConfigs()
    {
        TestCaseData Case(string name, string text, string field, string problem) =>
            new TestCaseData(text, field, problem).SetArgDisplayNames(name);

        yield return Case("empty", "", "", "the file is empty");
        yield return Case("not yaml", "clusters: [", "", "not valid YAML (line ");
        yield return Case("a list", "- a\n- b", "", "expected a mapping with clusters, contexts, users and current-context");
        yield return Case("wrong kind", "kind: Pod", "kind", "'Pod' is not a kubeconfig (expected Config)");
        yield return Case("no current context", Config("server: https://a", current: "\"\""), "current-context", "not set (contexts defined: ctx)");
        yield return Case("unknown current context", Config("server: https://a", current: "nope"), "current-context", "no context named 'nope' (contexts defined: ctx)");
        yield return Case("context without cluster", Config("server: https://a", context: "user: u"), "contexts[0].context.cluster", "not set in context 'ctx'");
        yield return Case("unknown cluster", Config("server: https://a", context: "cluster: x\n    user: u"), "contexts[0].context.cluster",
            "no cluster named 'x' (clusters defined: c)");
        yield return Case("unknown user", Config("server: https://a", context: "cluster: c\n    user: x"), "contexts[0].context.user", "no user named 'x' (users defined: u)");
        yield return Case("no server", Config("insecure-skip-tls-verify: true"), "clusters[0].cluster.server", "not set (the API server's URL");
        yield return Case("bad server", Config("server: 10.0.0.1:6443"), "clusters[0].cluster.server", "'10.0.0.1:6443' is not an https:// or http:// URL");
        yield return Case("bad boolean", Config("server: https://a\n    insecure-skip-tls-verify: maybe"), "",
            "clusters[0].cluster.insecure-skip-tls-verify: expected true or false, got 'maybe'");
        yield return Case("bad base64", Config("server: https://a\n    certificate-authority-data: '%%%'"), "clusters[0].cluster.certificate-authority-data",
            "not valid base64");
        yield return Case("not a certificate", Config($"server: https://a\n    certificate-authority-data: {Base64("hello")}"),
            "clusters[0].cluster.certificate-authority-data", "holds no PEM certificate");
        yield return Case("missing ca file", Config("server: https://a\n    certificate-authority: /nonexistent/ca.crt"), "clusters[0].cluster.certificate-authority",
            "'/nonexistent/ca.crt' does not exist");
        yield return Case("ca and insecure", Config($"server: https://a\n    insecure-skip-tls-verify: true\n    certificate-authority-data: {Base64("x")}"),
            "clusters[0].cluster.insecure-skip-tls-verify", "cannot be true together with a certificate authority");
        yield return Case("exec plugin", Config("server: https://a", "exec: {command: aws}"), "users[0].user.exec", "credential plugins are not supported");
        yield return Case("auth provider", Config("server: https://a", "auth-provider: {name: gcp}"), "users[0].user.auth-provider", "credential plugins are not supported");
        yield return Case("basic auth", Config("server: https://a", "username: admin"), "users[0].user.username", "basic authentication is not supported");
        yield return Case("missing token file", Config("server: https://a", "tokenFile: /nonexistent/token"), "users[0].user.tokenFile",
            "'/nonexistent/token' does not exist or is empty");
        yield return Case("certificate without key", Config("server: https://a", $"client-certificate-data: {Base64("x")}"), "users[0].user.client-certificate-data",
            "set without its pair: also give client-key-data or client-key");
        yield return Case("key without certificate", Config("server: https://a", $"client-key-data: {Base64("x")}"), "users[0].user.client-key-data",
            "set without its pair: also give client-certificate-data or client-certificate");
        yield return Case("unusable certificate", Config("server: https://a", $"client-certificate-data: {Base64("x")}\n    client-key-data: {Base64("y")}"),
            "users[0].user.client-certificate-data", "cannot load the client certificate with its key");
        yield return Case("unnamed cluster", "clusters:\n- cluster: {server: https://a}", "clusters[0].name", "not set");
        yield return Case("clusters not a list", "clusters: {a: b}", "", "clusters: expected a list");
    }

    [TestCaseSource(nameof(BrokenConfigs))]
    public void A_broken_kubeconfig_says_which_file_and_field_and_what_is_wrong(string text, string field, string problem)
    {
        var path = Write("config", text);

        var error = Assert.Throws<ClusterConfigException>(() => KubeConfigLoader.Load(path));

        var prefix = field.Length == 0 ? $"kubeconfig {path}: " : $"kubeconfig {path}: {field}: ";
        Assert.That(error!.Message, Does.StartWith(prefix + problem));
    }

    [Test]
    public void A_missing_kubeconfig_is_named()
    {
        var path = Path.Combine(_directory, "absent");

        var error = Assert.Throws<ClusterConfigException>(() => KubeConfigLoader.Load(path));

        Assert.That(error!.Message, Is.EqualTo($"kubeconfig {path}: the file does not exist"));
    }
}
