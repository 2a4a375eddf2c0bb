using Microsoft.Extensions.Logging.Abstractions;
using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Kubernetes;
using ProxyReplacement.ServiceProxy.Kubernetes.Config;
using ProxyReplacement.ServiceProxy.Options;
using ProxyReplacement.ServiceProxy.Sources;

namespace ProxyReplacement.ServiceProxy.Tests.Kubernetes;

/// <summary>Which source the options and the environment select, and that a broken kubeconfig fails the start.</summary>
public sealed class SourceSelectionTests
{
    private static readonly Dictionary<string, string> InPod = new() { ["KUBERNETES_SERVICE_HOST"] = "10.96.0.1", ["KUBERNETES_SERVICE_PORT"] = "443" };

    private static Func<string, string?> Env(Dictionary<string, string>? variables = null) => name => variables?.GetValueOrDefault(name);

    private static SourceChoice Choose(ProxyOptions options, Dictionary<string, string>? environment = null) =>
        SourceSelection.Choose(options, Env(environment));

    [Test]
    public void Auto_follows_explicit_flags_first_then_the_environment()
    {
        var kubeconfigAndPod = new Dictionary<string, string>(InPod) { ["KUBECONFIG"] = "/a:/b" };
        Assert.Multiple(() =>
        {
            Assert.That(Choose(new ProxyOptions { Kubeconfig = "/k" }, kubeconfigAndPod), Is.EqualTo(new SourceChoice.Kubeconfig(["/k"], "--kubeconfig")).Using(ChoiceComparer));
            Assert.That(Choose(new ProxyOptions { ManifestDir = "/m" }, kubeconfigAndPod), Is.EqualTo(new SourceChoice.ManifestDirectory("/m")),
                "an explicit --manifest-dir beats an ambient KUBECONFIG");
            Assert.That(Choose(new ProxyOptions(), kubeconfigAndPod), Is.EqualTo(new SourceChoice.Kubeconfig(["/a", "/b"], "KUBECONFIG")).Using(ChoiceComparer));
            Assert.That(Choose(new ProxyOptions(), InPod), Is.EqualTo(new SourceChoice.InCluster()));
            Assert.That(() => Choose(new ProxyOptions()), Throws.TypeOf<OptionException>().With.Message.EqualTo(
                "invalid option --manifest-dir: no source configured: give --manifest-dir DIR or --kubeconfig FILE (or set KUBECONFIG, or run in a pod)"));
        });
    }

    [Test]
    public void An_explicit_source_is_obeyed()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Choose(new ProxyOptions { Source = SourceKind.Kubernetes }, InPod), Is.EqualTo(new SourceChoice.InCluster()));
            Assert.That(() => Choose(new ProxyOptions { Source = SourceKind.Kubernetes }), Throws.TypeOf<OptionException>().With.Message.StartWith(
                "invalid option --source: kubernetes needs --kubeconfig FILE, KUBECONFIG, or a pod's environment"));
            Assert.That(Choose(new ProxyOptions { Source = SourceKind.Manifest, ManifestDir = "/m" }, InPod), Is.EqualTo(new SourceChoice.ManifestDirectory("/m")));
        });
    }

    [Test]
    public void A_broken_kubeconfig_fails_the_start_and_a_good_one_makes_a_kubernetes_source()
    {
        var directory = Directory.CreateTempSubdirectory("prt-select-").FullName;
        try
        {
            var broken = Path.Combine(directory, "broken");
            File.WriteAllText(broken, "current-context: x\n");
            var good = Path.Combine(directory, "good");
            File.WriteAllText(good, """
                current-context: c
                contexts: [{name: c, context: {cluster: k, user: u}}]
                clusters: [{name: k, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]
                users: [{name: u, user: {token: t}}]
                """);
            var metrics = new ProxyMetrics();
            var health = new HealthState(TimeProvider.System, TimeSpan.FromSeconds(30));

            Assert.That(() => ServiceSources.Create(new ProxyOptions { Kubeconfig = broken }, Env(), NullLoggerFactory.Instance, metrics, health),
                Throws.TypeOf<ClusterConfigException>().With.Message.EqualTo($"kubeconfig {broken}: current-context: no context named 'x' (contexts defined: none)"));
            using var source = (KubernetesSource)ServiceSources.Create(new ProxyOptions { Kubeconfig = good }, Env(), NullLoggerFactory.Instance, metrics, health);
            Assert.That(source.Description, Is.EqualTo($"Kubernetes API https://127.0.0.1:6443/ (kubeconfig {good}, context c)"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Test]
    [NonParallelizable]
    public async Task Run_with_a_broken_kubeconfig_exits_2_with_the_reason_before_touching_the_kernel()
    {
        var directory = Directory.CreateTempSubdirectory("prt-cli-").FullName;
        var error = Console.Error;
        var captured = new StringWriter();
        try
        {
            var kubeconfig = Path.Combine(directory, "config");
            File.WriteAllText(kubeconfig, "current-context: a\ncontexts: [{name: a, context: {cluster: missing}}]\n");
            Console.SetError(captured);

            var exitCode = await ProxyReplacement.ServiceProxy.Cli.CommandLine.RunAsync(["run", "--kubeconfig", kubeconfig, "--bpffs-root", Path.Combine(directory, "never-used"),
                "--healthz-bind-address", "", "--metrics-bind-address", ""]);

            Assert.Multiple(() =>
            {
                Assert.That(exitCode, Is.EqualTo(2));
                Assert.That(captured.ToString().Trim(), Is.EqualTo(
                    $"service-proxy: kubeconfig {kubeconfig}: context 'a': no cluster named 'missing' (clusters defined: none)"));
                Assert.That(Directory.Exists(Path.Combine(directory, "never-used")), Is.False, "nothing was loaded or pinned");
            });
        }
        finally
        {
            Console.SetError(error);
            Directory.Delete(directory, recursive: true);
        }
    }

    private static readonly IEqualityComparer<SourceChoice> ChoiceComparer = EqualityComparer<SourceChoice>.Create(
        (a, b) => (a, b) switch
        {
            (SourceChoice.Kubeconfig x, SourceChoice.Kubeconfig y) => x.Paths.SequenceEqual(y.Paths) && x.From == y.From,
            _ => Equals(a, b),
        },
        choice => choice.GetType().GetHashCode());
}
