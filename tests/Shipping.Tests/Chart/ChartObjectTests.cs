using System.Text.Json;
using System.Text.Json.Nodes;
using k8s.Models;
using ProxyReplacement.Shipping.Tests.Support;

namespace ProxyReplacement.Shipping.Tests.Chart;

/// <summary>Every object the chart renders, for every scenario, is a valid object of its kind, and so is the daemon's config.</summary>
public sealed class ChartObjectTests
{
    [TestCaseSource(typeof(Scenarios), nameof(Scenarios.All))]
    public void Every_object_parses_strictly_into_its_KubernetesClient_model(string[] arguments)
    {
        var chart = ChartRenderer.Render(arguments);

        Assert.That(chart.Objects, Is.Not.Empty);
        foreach (var rendered in chart.Objects)
        {
            Assert.DoesNotThrow(() => StrictKubernetes.Parse(rendered.Object), $"{rendered}:\n{rendered.Object}");
            Assert.That(rendered.Name, Does.Match("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").And.Length.LessThanOrEqualTo(63), rendered.ToString());
        }
    }

    [TestCaseSource(typeof(Scenarios), nameof(Scenarios.All))]
    public void The_merged_values_pass_the_values_schema(string[] arguments)
    {
        var chart = ChartRenderer.Render(arguments);

        Assert.That(ValuesSchema.Errors(chart.Values), Is.Empty);
    }

    [TestCaseSource(typeof(Scenarios), nameof(Scenarios.All))]
    public void The_config_in_the_ConfigMap_passes_the_daemons_validate_config(string[] arguments)
    {
        var chart = ChartRenderer.Render(arguments);
        var config = StrictKubernetes.Parse<V1ConfigMap>(chart.Single("ConfigMap").Object).Data["config.yaml"];
        var file = Path.Combine(TestContext.CurrentContext.WorkDirectory, $"prt-config-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, config);
        try
        {
            var result = Tool.Run(Repository.DaemonBinary, ["run", "--validate-config", file]);

            Assert.That(result.ExitCode, Is.Zero, $"{result}\n--- config\n{config}");
            Assert.That(result.Output, Does.StartWith($"config OK: {file}"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void Defaults_render_exactly_the_expected_objects()
    {
        var chart = ChartRenderer.Render("--set", $"k8sServiceHost={Scenarios.ApiHost}");

        Assert.That(chart.Objects.Select(o => $"{o.Kind}/{o.Name}"), Is.EquivalentTo(new[]
        {
            "ServiceAccount/proxy-replacement", "ClusterRole/proxy-replacement", "ClusterRoleBinding/proxy-replacement",
            "ConfigMap/proxy-replacement", "DaemonSet/proxy-replacement", "Service/proxy-replacement-metrics",
        }));
        Assert.That(chart.Objects.Where(o => o.Kind is not ("ClusterRole" or "ClusterRoleBinding")).Select(o => (string?)o.Object["metadata"]!["namespace"]),
            Is.All.EqualTo("kube-system"));
    }

    [Test]
    public void Monitors_render_when_enabled()
    {
        var chart = ChartRenderer.Render(Scenarios.All().ElementAt(2).Arguments.Cast<string[]>().Single());

        var serviceMonitor = StrictKubernetes.Parse<ServiceMonitor>(chart.Single("ServiceMonitor").Object);
        var podMonitor = StrictKubernetes.Parse<PodMonitor>(chart.Single("PodMonitor").Object);
        Assert.Multiple(() =>
        {
            Assert.That(serviceMonitor.Metadata!.Labels["release"], Is.EqualTo("prometheus"));
            Assert.That(serviceMonitor.Spec!.Endpoints!.Single().Port, Is.EqualTo("metrics"));
            Assert.That(serviceMonitor.Spec.NamespaceSelector!.MatchNames, Is.EqualTo(new[] { "proxy" }));
            Assert.That(podMonitor.Spec!.PodMetricsEndpoints!.Single().Path, Is.EqualTo("/metrics"));
        });
    }

    [Test]
    public void The_strict_parse_refuses_an_unknown_or_mistyped_field()
    {
        var daemonSet = ChartRenderer.Render("--set", $"k8sServiceHost={Scenarios.ApiHost}").Single("DaemonSet").Object;

        JsonObject With(Action<JsonObject> change)
        {
            var copy = daemonSet.DeepClone().AsObject();
            change(copy);
            return copy;
        }

        Assert.Multiple(() =>
        {
            Assert.DoesNotThrow(() => StrictKubernetes.Parse(daemonSet));
            Assert.Throws<JsonException>(() => StrictKubernetes.Parse(With(o => o["spec"]!["template"]!["spec"]!["hostNetwrok"] = true)));
            Assert.Throws<JsonException>(() => StrictKubernetes.Parse(With(o =>
                o["spec"]!["template"]!["spec"]!["containers"]![0]!["securityContext"]!["capabilites"] = new JsonObject())));
            Assert.Throws<JsonException>(() => StrictKubernetes.Parse(With(o => o["status2"] = "x")));
            Assert.Throws<JsonException>(() => StrictKubernetes.Parse(With(o => o["spec"]!["template"]!["spec"]!["hostNetwork"] = "yes")));
            Assert.Throws<JsonException>(() => StrictKubernetes.Parse(With(o => o["kind"] = "DaemonSets")));
        });
    }

    [Test]
    public void The_external_traffic_values_reach_the_daemons_config_and_the_notes()
    {
        var chart = ChartRenderer.Render("-f", Scenarios.ValuesFile);
        var config = StrictKubernetes.Parse<V1ConfigMap>(chart.Single("ConfigMap").Object).Data["config.yaml"];
        var file = Path.Combine(TestContext.CurrentContext.WorkDirectory, $"prt-config-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, config);
        try
        {
            var traffic = ServiceProxy.Options.ProxyOptionsBuilder.ApplyConfigFile(new ServiceProxy.Options.ProxyOptions(), file).ExternalTraffic;

            Assert.Multiple(() =>
            {
                Assert.That((traffic.Mode, traffic.TunnelPort, traffic.TunnelVni, traffic.TunnelMtu, traffic.SnatPorts.ToString()),
                    Is.EqualTo((Dataplane.Abi.ExternalServiceMode.Dsr, 6090, 16u, 8900, "40000-40999")));
                Assert.That(chart.Notes, Does.Contain("allow UDP 6090").And.Contain("anti-spoofing"), "the Geneve port, and what dsr needs");
            });
        }
        finally
        {
            File.Delete(file);
        }
    }

    [TestCase(null, null)]
    [TestCase("0", 0)]
    [TestCase("1048576", 1048576)] // a large number stays an integer in the config (not 1.048576e+06)
    public void The_fast_path_table_size_reaches_the_daemons_config(string? set, int? expected)
    {
        var args = new List<string> { "--set", $"k8sServiceHost={Scenarios.ApiHost}" };
        if (set is not null)
            args.AddRange(["--set", $"maps.directTable={set}"]);
        var chart = ChartRenderer.Render([.. args]);
        var config = StrictKubernetes.Parse<V1ConfigMap>(chart.Single("ConfigMap").Object).Data["config.yaml"];
        var file = Path.Combine(TestContext.CurrentContext.WorkDirectory, $"prt-config-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, config);
        try
        {
            var options = ServiceProxy.Options.ProxyOptionsBuilder.ApplyConfigFile(new ServiceProxy.Options.ProxyOptions(), file);

            Assert.That(options.DirectTableSize, Is.EqualTo(expected), config);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void Rendering_without_the_API_server_address_fails_and_says_why()
    {
        var result = ChartRenderer.TryRender();

        Assert.That(result.ExitCode, Is.Not.Zero);
        Assert.That(result.Error, Does.Contain("k8sServiceHost is required"));
    }

    [Test]
    public void The_config_file_rejects_an_invalid_option_value_with_exit_code_2()
    {
        // The schema lets extraConfig values through as strings; the daemon's own parser is the last check.
        var chart = ChartRenderer.Render("--set", $"k8sServiceHost={Scenarios.ApiHost}", "--set", "extraConfig.minSyncInterval=fast");
        var file = Path.Combine(TestContext.CurrentContext.WorkDirectory, "prt-bad-config.yaml");
        File.WriteAllText(file, StrictKubernetes.Parse<V1ConfigMap>(chart.Single("ConfigMap").Object).Data["config.yaml"]);

        var result = Tool.Run(Repository.DaemonBinary, ["run", "--validate-config", file]);

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString);
        Assert.That(result.Error, Does.Contain("minSyncInterval").And.Contain("'fast' is not a duration"));
    }

    [Test]
    public void The_yaml_output_is_what_helm_template_prints()
    {
        var yaml = ChartRenderer.RenderYaml("--set", $"k8sServiceHost={Scenarios.ApiHost}");

        Assert.That(yaml, Does.StartWith("---\n# Source: proxy-replacement/templates/"));
        Assert.That(yaml, Does.Contain("kind: DaemonSet"));
    }
}
