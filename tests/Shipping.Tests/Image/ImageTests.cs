using System.Text.Json.Nodes;
using k8s.Models;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tests.Support;
using ProxyReplacement.E2E.Tests.Support;
using ProxyReplacement.Shipping.Tests.Support;

namespace ProxyReplacement.Shipping.Tests.Image;

/// <summary>
/// The image, built once from the Dockerfile with podman (scripts/image-build.sh: local debootstrapped bases and this
/// machine's .NET SDK), run as the chart's daemon container would run on a node: the node is a network namespace of the
/// e2e harness (pods behind veths, a private bpffs, a test cgroup for the socket hooks), the container joins it
/// (<c>--network ns:</c>) with the command, arguments, config file and capabilities the chart renders, and nothing
/// more: <c>--cap-drop=ALL</c>, a read-only root, seccomp on. Real ClusterIP traffic from a client pod must pass, through
/// the TC path and the socket hooks.
/// </summary>
[TestFixture]
[Category("Privileged")]
[Category("Image")]
[NonParallelizable]
public sealed class ImageTests
{
    private const string PinDirectory = "/sys/fs/bpf/proxy-replacement";
    private Podman? _podman;
    private string _work = "";
    private string _seccomp = "";

    private Podman Podman => _podman ?? throw new InvalidOperationException("the image was not built");

    [OneTimeSetUp]
    public void BuildImage()
    {
        Privileged.Require();
        if (Podman.MissingTool() is { } tool)
            Privileged.Unavailable($"{tool} is not installed (scripts/install-deps.sh installs it)");
        _work = Directory.CreateTempSubdirectory("prt-image-test-").FullName;
        _seccomp = SeccompProfile.WriteWithBpfForCapBpf(Path.Combine(_work, "seccomp.json"));
        _podman = Podman.Build();
    }

    [OneTimeTearDown]
    public void RemoveImage()
    {
        _podman?.Dispose();
        if (_work.Length > 0)
            Directory.Delete(_work, recursive: true);
    }

    [Test]
    public void The_image_is_slim_labelled_and_holds_the_runtime_but_no_build_tools()
    {
        var image = Podman.Inspect(Podman.Tag);
        var labels = image["Config"]!["Labels"]!.AsObject();
        var size = (long)image["Size"]!;
        var contents = Podman.Run(["run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", Podman.Tag, "-c",
            "ls /app; ls -A /usr/share/dotnet 2>/dev/null | grep -q . || echo no-shared-dotnet; command -v clang || echo no-clang; ls /usr/lib/x86_64-linux-gnu | grep -c '^libbpf.so.1'"]);
        var help = Podman.Run(["run", "--rm", "--network", "none", Podman.Tag]);
        TestContext.Out.WriteLine($"image {Podman.Tag}: {size / 1e6:0} MB, built in {Podman.BuildTime.TotalSeconds:0} s\n{contents.Output}");

        Assert.Multiple(() =>
        {
            foreach (var label in new[] { "title", "description", "version", "revision", "created" })
                Assert.That((string?)labels[$"org.opencontainers.image.{label}"], Is.Not.Null.And.Not.Empty, label);
            Assert.That(size, Is.LessThan(300_000_000), "the runtime image stays slim");
            // Self-contained: the runtime and the composite ReadyToRun code travel with the daemon, no SDK or shared runtime beside it
            // (/usr/share/dotnet may exist, empty: the mount point of the SDK volume scripts/image-build.sh gives every RUN).
            Assert.That(contents.Output, Does.Contain("libcoreclr.so").And.Contain("service-proxy.r2r.dll"));
            Assert.That(contents.Output, Does.Contain("no-shared-dotnet").And.Contain("no-clang"));
            Assert.That(help.ExitCode, Is.Zero, help.ToString);
            Assert.That(help.Output, Does.Contain("service-proxy [command] [options]"));
        });
    }

    [Test]
    public void The_charts_config_passes_validate_config_in_the_image()
    {
        var configDirectory = WriteConfig(ChartDaemon.Render("veth*").Config, "validate");

        var result = Podman.Run(["run", "--rm", "--network", "none", "--cap-drop=ALL", "-v", $"{configDirectory}:/etc/proxy-replacement:ro",
            Podman.Tag, "run", "--validate-config", "/etc/proxy-replacement/config.yaml"]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString);
        Assert.That(result.Output, Does.StartWith("config OK"));
    }

    [Test]
    public async Task As_the_charts_daemon_with_only_the_documented_capabilities_it_serves_cluster_ip_traffic_and_restarts_without_a_drop()
    {
        using var node = CreateNode();
        var daemon = ChartDaemon.Render(node.WorkloadInterfacePattern);
        Assert.That(daemon.Capabilities, Is.EquivalentTo(Capabilities.Documented.Select(c => c["CAP_".Length..])));
        string? container = null;
        try
        {
            container = StartContainer(node, daemon, "first");
            await WaitUntilReadyAsync(node, container);

            // The TC path: 30 short connections from the client pod, every backend answers.
            var tally = await ServiceClient.TallyAsync(node.ClientNamespace, node.Service.Vip, count: 30);
            // The socket hooks: connections from inside the cgroup, translated at connect (getpeername is the VIP).
            var hooked = Enumerable.Range(0, 10)
                .Select(i => CgroupClient.Run(node.ClientCgroup!.Path, node.ClientNamespace, "tcp",
                    node.Service.Vip.Address.ToString(), node.Service.Vip.Port.ToString(), $"q{i}"))
                .ToList();
            var dump = Podman.Run(["exec", container, "service-proxy", "dump", "--bpffs-root", PinDirectory]);
            var metrics = await NetnsHttp.TryGetAsync(node.NodeNamespace, ProxiedNode.MetricsEndpoint, "/metrics");
            await TestContext.Out.WriteLineAsync($"TC path: {string.Join(", ", tally.Select(t => $"{t.Key} {t.Value}"))}\n{dump.Output}");

            Assert.Multiple(() =>
            {
                Assert.That(tally.Keys, Is.EquivalentTo(new[] { "backend-0", "backend-1", "backend-2" }));
                Assert.That(hooked.Select(r => r.Error), Is.All.Null, string.Join("\n", hooked));
                Assert.That(hooked.Select(r => r.Peer), Is.All.EqualTo(node.Service.Vip));
                Assert.That(dump.ExitCode, Is.Zero, dump.ToString);
                Assert.That(dump.Output, Does.Contain(node.Service.Vip.Address.ToString()));
                Assert.That(dump.Output, Does.Contain("SOCKET LB (mode tcp; 4 hooks pinned)"));
                Assert.That(metrics?.Status, Is.EqualTo(200), "GET /metrics on the chart's metrics port");
            });

            // An upgrade: the pod stops (SIGTERM), the programs and pins stay, traffic goes on, the next one adopts.
            var stop = Podman.Run(["stop", "--time", "20", container]);
            var exitCode = (int)Podman.Inspect(container)["State"]!["ExitCode"]!;
            var whileStopped = await ServiceClient.TallyAsync(node.ClientNamespace, node.Service.Vip, count: 10);
            RemoveContainer(container);
            container = StartContainer(node, daemon, "second");
            await WaitUntilReadyAsync(node, container);
            var afterRestart = await ServiceClient.TallyAsync(node.ClientNamespace, node.Service.Vip, count: 10);
            var logs = Podman.Run(["logs", container]);

            Assert.Multiple(() =>
            {
                Assert.That(stop.ExitCode, Is.Zero, stop.ToString);
                Assert.That(exitCode, Is.Zero, "the daemon exits 0 on SIGTERM");
                Assert.That(whileStopped.Values.Sum(), Is.EqualTo(10), "served while no daemon runs");
                Assert.That(afterRestart.Values.Sum(), Is.EqualTo(10));
                Assert.That(logs.Output + logs.Error, Does.Contain("adopted").And.Not.Contain("adopted: none"));
            });
        }
        finally
        {
            if (container is not null)
                DumpLogsAndRemove(container);
        }

        // Rollback: `service-proxy cleanup` in the image, with the same capabilities, removes the pins and hooks.
        var cleanup = Podman.Run([.. RunArguments(node, daemon, "cleanup"), "--entrypoint", "/app/service-proxy", Podman.Tag, "cleanup", "--bpffs-root", PinDirectory]);
        Assert.That(cleanup.ExitCode, Is.Zero, cleanup.ToString);
        Assert.That(PinnedNatMaps.CorePins(node.PinRoot), Is.Empty, cleanup.Output);
    }

    public static IEnumerable<string> DocumentedCapabilities() => Capabilities.Documented;

    [TestCaseSource(nameof(DocumentedCapabilities))]
    public async Task Without_one_documented_capability_the_daemon_does_not_start(string capability)
    {
        using var node = CreateNode();
        var daemon = ChartDaemon.Render(node.WorkloadInterfacePattern);
        var fewer = daemon with { Capabilities = daemon.Capabilities.Where(c => "CAP_" + c != capability).ToList() };
        // No seccomp filter here: what refuses must be the kernel's capability check, not the filter (which gates
        // bpf() on CAP_BPF as well).
        var container = StartContainer(node, fewer, $"no-{capability.ToLowerInvariant()}", seccomp: "unconfined");
        try
        {
            var (exited, _) = await Poll.UntilAsync(() => Task.FromResult(IsRunning(container) ? null : "exited"), TimeSpan.FromSeconds(30));
            var state = Podman.Inspect(container)["State"]!;
            var logs = Podman.Run(["logs", container]);
            await TestContext.Out.WriteLineAsync($"without {capability}: exit {(int?)state["ExitCode"]}\n{Tail(logs.Output + logs.Error, 14)}");

            Assert.That(exited, Is.Not.Null, $"the daemon still runs 30 s after its start without {capability}");
            Assert.That((int)state["ExitCode"]!, Is.Not.Zero);
            Assert.That(await NetnsHttp.TryGetAsync(node.NodeNamespace, ProxiedNode.HealthzEndpoint, "/readyz"), Is.Null);
        }
        finally
        {
            RemoveContainer(container);
        }
    }

    // ----- the node and the container ------------------------------------------------------------------------------

    private static ProxiedNode CreateNode()
    {
        var node = ProxiedNode.Create(backendCount: 3);
        try
        {
            node.Manifests.WriteService(node.Service);
            node.Manifests.WriteEndpointSlice(node.Service, node.BackendAddresses(0, 1, 2));
            node.AddSocketLbCgroup();
            return node;
        }
        catch
        {
            node.Dispose();
            throw;
        }
    }

    private string WriteConfig(string config, string name)
    {
        var directory = Directory.CreateDirectory(Path.Combine(_work, $"config-{name}-{Guid.NewGuid():N}")).FullName;
        File.WriteAllText(Path.Combine(directory, "config.yaml"), config);
        return directory;
    }

    /// <summary>
    /// podman run's options that make the container what the chart's pod is on a node: the node's network
    /// namespace, the capabilities of the chart's securityContext and nothing else, a read-only root with a /tmp,
    /// the node's bpffs, the config file, the cgroup v2 directory of the socket hooks, and (for this test) the
    /// manifest directory the config points the daemon at.
    /// </summary>
    /// <param name="seccomp">The seccomp profile: podman's default with bpf() for CAP_BPF (<see cref="SeccompProfile"/>), or
    /// "unconfined" where the test is about the kernel's own capability checks alone.</param>
    private string[] RunArguments(ProxiedNode node, ChartDaemon daemon, string name, string? seccomp = null)
    {
        var configDirectory = WriteConfig(daemon.Config, name);
        return
        [
            "run", "--name", $"prt-image-{name}-{Guid.NewGuid().ToString("N")[..6]}",
            "--network", $"ns:/run/netns/{node.NodeNamespace}",
            "--cap-drop=ALL", .. daemon.Capabilities.Select(c => $"--cap-add=CAP_{c}"),
            "--security-opt", $"seccomp={seccomp ?? _seccomp}",
            "--read-only", "--tmpfs", "/tmp",
            "--env", "NODE_NAME=image-node",
            "-v", $"{Path.GetDirectoryName(node.PinRoot)}:/sys/fs/bpf",
            "-v", $"{configDirectory}:/etc/proxy-replacement:ro",
            "-v", $"{node.ClientCgroup!.Path}:{ChartDaemon.CgroupMount}:ro",
            "-v", $"{node.Manifests.Path}:/manifests:ro",
        ];
    }

    private string StartContainer(ProxiedNode node, ChartDaemon daemon, string name, string? seccomp = null)
    {
        var arguments = RunArguments(node, daemon, name, seccomp);
        var container = arguments[2];
        Podman.Check([.. arguments, "--detach", "--entrypoint", daemon.Command, Podman.Tag,
            .. daemon.Arguments.Select(a => a.Replace("$(NODE_NAME)", "image-node", StringComparison.Ordinal))]);
        return container;
    }

    private bool IsRunning(string container) => (bool)Podman.Inspect(container)["State"]!["Running"]!;

    private async Task WaitUntilReadyAsync(ProxiedNode node, string container)
    {
        var (ready, took) = await Poll.UntilAsync(async () =>
        {
            if (!IsRunning(container))
                Assert.Fail($"container {container} exited before it was ready:\n{Logs(container)}");
            var response = await NetnsHttp.TryGetAsync(node.NodeNamespace, ProxiedNode.HealthzEndpoint, "/readyz");
            return response?.Status == 200 && PinnedNatMaps.Frontend(node.PinRoot, node.Service) is not null ? response : null;
        }, TimeSpan.FromSeconds(60));
        if (ready is null)
            Assert.Fail($"container {container} not ready within 60 s:\n{Logs(container)}");
        await TestContext.Out.WriteLineAsync($"{container} ready {took.TotalMilliseconds:0} ms after start");
    }

    private string Logs(string container)
    {
        var logs = Podman.Run(["logs", container]);
        return logs.Output + logs.Error;
    }

    private void DumpLogsAndRemove(string container)
    {
        if (TestContext.CurrentContext.Result.Outcome.Status != NUnit.Framework.Interfaces.TestStatus.Passed)
            TestContext.Out.WriteLine($"--- {container}\n{Logs(container)}");
        RemoveContainer(container);
    }

    private void RemoveContainer(string container) => Podman.Run(["rm", "--force", "--time", "0", container]);

    private static string Tail(string text, int lines) => string.Join('\n', text.Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(lines));
}

/// <summary>The chart's daemon container, rendered for a test node: what podman must run to be that container.</summary>
internal sealed record ChartDaemon(string Command, IReadOnlyList<string> Arguments, IReadOnlyList<string> Capabilities, string Config)
{
    public const string CgroupMount = "/run/proxy-replacement/cgroupv2";

    /// <summary>
    /// Renders the chart with what differs on a test node: the pods' interface names, and a manifest directory
    /// instead of an API server (extraConfig; the ConfigMap's config is otherwise the chart's own).
    /// </summary>
    public static ChartDaemon Render(string workloadPattern)
    {
        var chart = ChartRenderer.Render("--set", $"k8sServiceHost={Chart.Scenarios.ApiHost}",
            "--set", $"interfaces.workload={{{workloadPattern}}}",
            "--set", "extraConfig.source=manifest,extraConfig.manifestDir=/manifests,extraConfig.minSyncInterval=100ms");
        var daemonSet = StrictKubernetes.Parse<V1DaemonSet>(chart.Single("DaemonSet").Object);
        var container = daemonSet.Spec.Template.Spec.Containers.Single(c => c.Name == "service-proxy");
        var config = StrictKubernetes.Parse<V1ConfigMap>(chart.Single("ConfigMap").Object).Data["config.yaml"];
        Assert.That(container.VolumeMounts.Single(m => m.Name == "cgroup").MountPath, Is.EqualTo(CgroupMount));
        Assert.That(container.VolumeMounts.Single(m => m.Name == "config").MountPath, Is.EqualTo("/etc/proxy-replacement"));
        return new ChartDaemon(container.Command.Single(), container.Args.ToList(), container.SecurityContext.Capabilities.Add.ToList(), config);
    }
}
