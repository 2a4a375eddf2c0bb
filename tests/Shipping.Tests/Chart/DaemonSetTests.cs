using k8s.Models;
using ProxyReplacement.Shipping.Tests.Support;

namespace ProxyReplacement.Shipping.Tests.Chart;

/// <summary>What the DaemonSet must be to replace kube-proxy on every node.</summary>
public sealed class DaemonSetTests
{
    private static V1DaemonSet Render(params string[] more) =>
        StrictKubernetes.Parse<V1DaemonSet>(ChartRenderer.Render(["--set", $"k8sServiceHost={Scenarios.ApiHost}", .. more]).Single("DaemonSet").Object);

    private static V1Container Daemon(V1DaemonSet set) => set.Spec.Template.Spec.Containers.Single(c => c.Name == "service-proxy");

    [Test]
    public void Runs_on_every_node_in_the_host_network_and_is_node_critical()
    {
        var spec = Render().Spec.Template.Spec;

        Assert.Multiple(() =>
        {
            Assert.That(spec.HostNetwork, Is.True);
            Assert.That(spec.PriorityClassName, Is.EqualTo("system-node-critical"));
            Assert.That(spec.Tolerations.Single().OperatorProperty, Is.EqualTo("Exists"));
            Assert.That(spec.Tolerations.Single().Key, Is.Null);
            Assert.That(spec.DnsPolicy, Is.EqualTo("Default"));
        });
    }

    [Test]
    public void Rolls_one_node_at_a_time()
    {
        var strategy = Render().Spec.UpdateStrategy;

        Assert.That(strategy.Type, Is.EqualTo("RollingUpdate"));
        Assert.That(strategy.RollingUpdate.MaxUnavailable.Value, Is.EqualTo("1"));
    }

    [Test]
    public void Probes_healthz_and_readyz_on_the_healthz_port()
    {
        var daemon = Daemon(Render());

        Assert.Multiple(() =>
        {
            Assert.That(daemon.LivenessProbe.HttpGet.Path, Is.EqualTo("/healthz"));
            Assert.That(daemon.ReadinessProbe.HttpGet.Path, Is.EqualTo("/readyz"));
            Assert.That(daemon.LivenessProbe.HttpGet.Port.Value, Is.EqualTo("healthz"));
            Assert.That(daemon.Ports.Single(p => p.Name == "healthz").ContainerPort, Is.EqualTo(10256));
            Assert.That(daemon.Ports.Single(p => p.Name == "metrics").ContainerPort, Is.EqualTo(10249));
        });
    }

    [Test]
    public void Runs_the_daemon_with_its_config_this_node_and_the_API_server_address()
    {
        var daemon = Daemon(Render("--set", "k8sServicePort=8443"));

        Assert.Multiple(() =>
        {
            Assert.That(daemon.Command, Is.EqualTo(new[] { "/app/service-proxy" }));
            Assert.That(daemon.Args, Is.EqualTo(new[] { "run", "--config=/etc/proxy-replacement/config.yaml", "--hostname-override=$(NODE_NAME)" }));
            Assert.That(daemon.Env.Single(e => e.Name == "NODE_NAME").ValueFrom.FieldRef.FieldPath, Is.EqualTo("spec.nodeName"));
            Assert.That(daemon.Env.Single(e => e.Name == "KUBERNETES_SERVICE_HOST").Value, Is.EqualTo(Scenarios.ApiHost));
            Assert.That(daemon.Env.Single(e => e.Name == "KUBERNETES_SERVICE_PORT").Value, Is.EqualTo("8443"));
        });
    }

    [Test]
    public void Mounts_bpffs_bidirectionally_where_it_is_mounted_and_the_cgroup_v2_root_for_the_socket_hooks()
    {
        var set = Render();
        var spec = set.Spec.Template.Spec;
        var init = spec.InitContainers.Single(c => c.Name == "mount-bpffs");
        var daemon = Daemon(set);

        Assert.Multiple(() =>
        {
            Assert.That(init.SecurityContext.Privileged, Is.True);
            Assert.That(init.VolumeMounts.Single().MountPropagation, Is.EqualTo("Bidirectional"));
            Assert.That(init.Args.Single(), Does.Contain("mount -t bpf bpf /sys/fs/bpf"));
            Assert.That(daemon.VolumeMounts.Single(m => m.Name == "bpffs").MountPropagation, Is.EqualTo("HostToContainer"));
            Assert.That(spec.Volumes.Single(v => v.Name == "bpffs").HostPath.Path, Is.EqualTo("/sys/fs/bpf"));
            Assert.That(spec.Volumes.Single(v => v.Name == "cgroup").HostPath.Path, Is.EqualTo("/sys/fs/cgroup"));
            Assert.That(daemon.VolumeMounts.Single(m => m.Name == "cgroup").MountPath, Is.EqualTo("/run/proxy-replacement/cgroupv2"));
        });
        Assert.That(Daemon(Render("--set", "socketLB.mode=disabled")).VolumeMounts.Select(m => m.Name), Has.None.EqualTo("cgroup"));
    }

    [Test]
    public void The_daemon_is_root_with_only_its_documented_capabilities()
    {
        var context = Daemon(Render()).SecurityContext;

        Assert.Multiple(() =>
        {
            Assert.That(context.Privileged, Is.False);
            Assert.That(context.AllowPrivilegeEscalation, Is.False);
            Assert.That(context.ReadOnlyRootFilesystem, Is.True);
            Assert.That(context.RunAsUser, Is.Zero);
            Assert.That(context.Capabilities.Drop, Is.EqualTo(new[] { "ALL" }));
            Assert.That(context.Capabilities.Add, Is.EquivalentTo(Capabilities.Documented.Select(c => c["CAP_".Length..])));
        });
    }

    [Test]
    public void Kube_proxy_cleanup_runs_kube_proxys_own_cleanup_with_the_xtables_lock_when_enabled()
    {
        Assert.That(Render().Spec.Template.Spec.InitContainers.Select(c => c.Name), Is.EqualTo(new[] { "mount-bpffs" }));

        var spec = Render("--set", "kubeProxyCleanup.enabled=true").Spec.Template.Spec;
        var cleanup = spec.InitContainers.Single(c => c.Name == "kube-proxy-cleanup");
        Assert.Multiple(() =>
        {
            Assert.That(cleanup.Image, Is.EqualTo("registry.k8s.io/kube-proxy:v1.31.0"));
            Assert.That(cleanup.Command, Is.EqualTo(new[] { "kube-proxy", "--cleanup" }));
            Assert.That(cleanup.VolumeMounts.Select(m => m.MountPath), Does.Contain("/run/xtables.lock"));
            Assert.That(spec.Volumes.Single(v => v.Name == "xtables-lock").HostPath.Type, Is.EqualTo("FileOrCreate"));
        });
    }

    [Test]
    public void Rollback_mode_cleans_the_dataplane_and_idles()
    {
        var set = Render("--set", "dataplaneCleanup=true");
        var cleanup = set.Spec.Template.Spec.InitContainers.Single(c => c.Name == "dataplane-cleanup");

        Assert.That(cleanup.Command, Is.EqualTo(new[] { "/app/service-proxy", "cleanup", "--bpffs-root", "/sys/fs/bpf/proxy-replacement" }));
        Assert.That(Daemon(set).Command, Is.EqualTo(new[] { "/bin/sleep", "infinity" }));
        Assert.That(Daemon(set).LivenessProbe, Is.Null);
    }

    [Test]
    public void A_config_change_changes_the_pod_template()
    {
        static string Checksum(params string[] more) => Render(more).Spec.Template.Metadata.Annotations["checksum/config"];

        var defaults = Checksum();

        Assert.That(Checksum("--set", "image.pullPolicy=Always"), Is.EqualTo(defaults), "not a config change");
        Assert.That(Checksum("--set", "maps.conntrack=524288"), Is.Not.EqualTo(defaults));
    }

    [Test]
    public void The_image_is_the_charts_app_version_or_a_digest()
    {
        Assert.That(Daemon(Render()).Image, Is.EqualTo("proxy-replacement/service-proxy:0.1.0"));
        Assert.That(Daemon(Render("--set", "image.digest=sha256:" + new string('a', 64))).Image,
            Is.EqualTo("proxy-replacement/service-proxy@sha256:" + new string('a', 64)));
    }
}
