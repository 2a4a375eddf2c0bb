using System.Text;
using ProxyReplacement.ServiceProxy.Kubernetes.Api;
using ProxyReplacement.ServiceProxy.Kubernetes.Config;
using ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi;

namespace ProxyReplacement.ServiceProxy.Tests.Kubernetes;

/// <summary>
/// kubeconfig loading through KubernetesClient: what each field resolves to (token, token file, CA, client
/// certificate, exec plugin, oidc auth-provider, contexts, merged files), and the message for each way it
/// can be broken.
/// </summary>
[NonParallelizable]
public sealed class KubeconfigTests
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
        - name: other
          context: {"{cluster: c}"}
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

        var connection = Kubeconfig.Load(path);

        Assert.Multiple(() =>
        {
            Assert.That(connection.Server, Is.EqualTo(new Uri("https://10.0.0.1:6443")));
            Assert.That(connection.Configuration.AccessToken, Is.EqualTo("abc"));
            Assert.That(connection.Configuration.SslCaCerts!.Single().Thumbprint, Is.EqualTo(certificates.Ca.Thumbprint));
            Assert.That(connection.Configuration.SkipTlsVerify, Is.False);
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

        var connection = Kubeconfig.Load(path);

        Assert.Multiple(() =>
        {
            Assert.That(connection.Configuration.SslCaCerts, Has.Count.EqualTo(1));
            Assert.That(connection.Configuration.TokenProvider, Is.TypeOf<FileTokenProvider>());
            Assert.That(((FileTokenProvider)connection.Configuration.TokenProvider!).Current(), Is.EqualTo("from-file"));
            Assert.That(connection.Configuration.ClientCertificateFilePath, Is.EqualTo(Path.Combine(_directory, "pki/client.crt")));
            Assert.That(connection.Configuration.ClientKeyFilePath, Is.EqualTo(Path.Combine(_directory, "pki/client.key")));
            Assert.That(connection.Configuration.TlsServerName, Is.EqualTo("kubernetes"));
        });
    }

    [Test]
    public void Several_files_merge_as_kubectl_merges_them_the_first_one_winning_and_a_context_can_be_chosen()
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
            - name: dev
              cluster: {server: "https://dev.example:6443"}
            contexts:
            - name: dev
              context: {cluster: dev, user: admin}
            users:
            - name: admin
              user: {token: second-token}
            """);

        var connection = Kubeconfig.Load(Kubeconfig.SplitPathList($"{first}::{second}"));
        var dev = Kubeconfig.Load(Kubeconfig.SplitPathList($"{first}:{second}"), context: "dev");

        Assert.Multiple(() =>
        {
            Assert.That(connection.Server.Host, Is.EqualTo("prod.example"));
            Assert.That(connection.Configuration.AccessToken, Is.EqualTo("first-token"));
            Assert.That(dev.Server.Host, Is.EqualTo("dev.example"));
            Assert.That(dev.Origin, Does.EndWith("context dev"));
        });
    }

    [Test]
    public async Task An_exec_credential_plugin_logs_in_the_way_eks_and_gke_kubeconfigs_do()
    {
        await using var server = await FakeApiServer.StartAsync();
        server.RequiredToken = "from-exec";
        var plugin = Write("plugin.sh", """
            #!/bin/sh
            echo '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"from-exec"}}'
            """);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(plugin, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var path = Write("config", Config($"server: {server.Url}",
            $"exec: {{apiVersion: client.authentication.k8s.io/v1beta1, command: {plugin}, interactiveMode: Never}}"));

        var connection = Kubeconfig.Load(path);
        using var client = new KubernetesApiClient(connection, TimeSpan.FromSeconds(10));
        var page = await client.ListAsync(ApiResources.Services, new ListRequest(null, 0), CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(page.Items, Is.Empty);
            Assert.That(server.Requests.Single().Authorization, Is.EqualTo("Bearer from-exec"));
        });
    }

    [Test]
    public async Task An_oidc_auth_provider_token_is_sent()
    {
        await using var server = await FakeApiServer.StartAsync();
        // an unsigned JWT that expires in 2100: the provider sends it as it is, no refresh needed
        static string Part(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var idToken = $"{Part("{\"alg\":\"none\"}")}.{Part("{\"exp\":4102444800}")}.";
        server.RequiredToken = idToken;
        var path = Write("config", Config($"server: {server.Url}",
            $"auth-provider: {{name: oidc, config: {{id-token: '{idToken}', refresh-token: r, client-id: proxy, idp-issuer-url: 'https://idp.example'}}}}"));

        using var client = new KubernetesApiClient(Kubeconfig.Load(path), TimeSpan.FromSeconds(10));
        await client.ListAsync(ApiResources.Services, new ListRequest(null, 0), CancellationToken.None);

        Assert.That(server.Requests.Single().Authorization, Is.EqualTo($"Bearer {idToken}"));
    }

    private static IEnumerable<TestCaseData> BrokenConfigs()
    {
        TestCaseData Case(string name, string text, string field, string problem) =>
            new TestCaseData(text, field, problem).SetArgDisplayNames(name);

        yield return Case("not yaml", "clusters: [", "", "not a valid kubeconfig: ");
        yield return Case("wrong kind", "kind: Pod", "kind", "'Pod' is not a kubeconfig (expected Config)");
        yield return Case("no current context", Config("server: https://a", current: "\"\""), "current-context", "not set (contexts defined: ctx, other)");
        yield return Case("unknown current context", Config("server: https://a", current: "nope"), "current-context", "no context named 'nope' (contexts defined: ctx, other)");
        yield return Case("context without cluster", Config("server: https://a", context: "user: u"), "context 'ctx'", "names no cluster");
        yield return Case("unknown cluster", Config("server: https://a", context: "cluster: x\n    user: u"), "context 'ctx'", "no cluster named 'x' (clusters defined: c)");
        yield return Case("unknown user", Config("server: https://a", context: "cluster: c\n    user: x"), "context 'ctx'", "no user named 'x' (users defined: u)");
        yield return Case("no server", Config("insecure-skip-tls-verify: true"), "cluster 'c'", "server: not set (the API server's URL");
        yield return Case("bad server", Config("server: 10.0.0.1:6443"), "cluster 'c'", "server: '10.0.0.1:6443' is not an https:// or http:// URL");
        yield return Case("bad base64", Config("server: https://a\n    certificate-authority-data: '%%%'"), "context 'ctx'", "");
        yield return Case("missing ca file", Config("server: https://a\n    certificate-authority: /nonexistent/ca.crt"), "context 'ctx'", "");
        yield return Case("missing token file", Config("server: https://a", "tokenFile: /nonexistent/token"), "user 'u'",
            "tokenFile: '/nonexistent/token' does not exist or is empty");
    }

    [TestCaseSource(nameof(BrokenConfigs))]
    public void A_broken_kubeconfig_says_which_file_and_what_is_wrong(string text, string field, string problem)
    {
        var path = Write("config", text);

        var error = Assert.Throws<ClusterConfigException>(() => Kubeconfig.Load(path));

        var prefix = field.Length == 0 ? $"kubeconfig {path}: " : $"kubeconfig {path}: {field}: ";
        Assert.That(error!.Message, Does.StartWith(prefix + problem));
    }

    [Test]
    public void A_missing_kubeconfig_is_named()
    {
        var path = Path.Combine(_directory, "absent");

        var error = Assert.Throws<ClusterConfigException>(() => Kubeconfig.Load(path));

        Assert.That(error!.Message, Is.EqualTo($"kubeconfig {path}: the file does not exist"));
    }
}
