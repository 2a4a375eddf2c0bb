using System.Text.Json;
using k8s;
using ProxyReplacement.ServiceProxy.Kubernetes.Config;

namespace ProxyReplacement.ServiceProxy.Tests.Kubernetes;

/// <summary>
/// Our kubeconfig reader (<see cref="KubeconfigYaml"/>, which skips the package's slow YAML set-up) against the package's
/// own <c>LoadKubeConfig</c>: the same file must give the same model, field for field (both written out as JSON and
/// compared), for every part of a kubeconfig the daemon reads and the free-form ones it does not.
/// </summary>
public sealed class KubeconfigYamlTests
{
    private static readonly JsonSerializerOptions Dump = new() { WriteIndented = true };

    /// <summary>Every shape a kubeconfig takes: tokens, files relative to it, exec and auth-provider plugins, merge keys, extensions, unknown fields.</summary>
    private static readonly string[] Files =
    [
        """
        apiVersion: v1
        kind: Config
        current-context: ctx
        preferences: {colors: true}
        clusters:
        - name: c
          cluster:
            server: https://10.0.0.1:6443
            certificate-authority: ca.crt
            tls-server-name: api.internal
            insecure-skip-tls-verify: false
            proxy-url: http://proxy:3128
            some-future-field: 7
        contexts:
        - name: ctx
          context: {cluster: c, user: u, namespace: kube-system}
        users:
        - name: u
          user:
            client-certificate: certs/client.crt
            client-key: certs/client.key
            token: abc
        - name: exec
          user:
            exec:
              apiVersion: client.authentication.k8s.io/v1beta1
              command: aws
              args: [eks, get-token, --cluster-name, "123"]
              env:
              - {name: AWS_PROFILE, value: prod}
              interactiveMode: Never
              provideClusterInfo: true
        - name: oidc
          user:
            auth-provider:
              name: oidc
              config: {client-id: k, id-token: t, idp-issuer-url: "https://issuer"}
        extensions:
        - name: ext
          extension: {a: 1, b: [x, y]}
        """,
        """
        base: &base {server: "https://192.0.2.1:443", insecure-skip-tls-verify: true}
        kind: Config
        clusters:
        - name: merged
          cluster:
            <<: *base
            server: https://192.0.2.2:443
        users:
        - name: basic
          user: {username: admin, password: "0123"}
        """,
        "kind: Config\n",
    ];

    [Test]
    public void Reads_each_kubeconfig_as_the_package_does([Range(0, 2)] int index)
    {
        var directory = Directory.CreateTempSubdirectory("prt-kubeconfig-yaml-").FullName;
        try
        {
            var path = Path.Combine(directory, "config");
            File.WriteAllText(path, Files[index]);

            var ours = KubeconfigYaml.Read(path);
            var package = KubernetesClientConfiguration.LoadKubeConfig(new FileInfo(path), useRelativePaths: true);

            Assert.That(ours, Is.Not.Null);
            Assert.That(ours!.FileName, Is.EqualTo(path), "relative paths resolve against the file, as useRelativePaths does");
            Assert.That(JsonSerializer.Serialize(ours, Dump), Is.EqualTo(JsonSerializer.Serialize(package, Dump)));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Test]
    public void A_file_that_does_not_parse_throws_as_the_package_does()
    {
        var directory = Directory.CreateTempSubdirectory("prt-kubeconfig-yaml-").FullName;
        try
        {
            var path = Path.Combine(directory, "config");
            File.WriteAllText(path, "clusters: [unclosed\n");

            Assert.That(() => KubeconfigYaml.Read(path), Throws.InstanceOf<YamlDotNet.Core.YamlException>());
            Assert.That(() => KubernetesClientConfiguration.LoadKubeConfig(new FileInfo(path), useRelativePaths: true), Throws.Exception);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
