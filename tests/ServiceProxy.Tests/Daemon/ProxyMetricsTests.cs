using System.Globalization;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Daemon;

namespace ProxyReplacement.ServiceProxy.Tests.Daemon;

public sealed class ProxyMetricsTests
{
    private static string[] Lines(string text) => text.Split('\n')[..^1];

    [Test]
    public void Every_family_has_help_and_type_before_its_samples_and_appears_once()
    {
        var metrics = new ProxyMetrics();
        metrics.Kubernetes.Enabled = true;
        metrics.Kubernetes.Relists.Increment(ProxyReplacement.ServiceProxy.Kubernetes.KubernetesMetrics.ResourceLabels("services", "reason", "gone"));
        var text = metrics.Render(new Dictionary<CounterReason, ulong> { [CounterReason.NatNewFlow] = 1 });

        Assert.That(text, Does.EndWith("\n"));
        var declared = new Dictionary<string, string>();
        string? current = null;
        foreach (var line in Lines(text))
        {
            Assert.That(line, Is.Not.Empty, "no blank lines inside the exposition");
            var parts = line.Split(' ');
            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                Assert.That(declared.ContainsKey(parts[2]), Is.False, $"{parts[2]} declared twice");
                current = parts[2];
                declared[current] = "";
                Assert.That(line.Length, Is.GreaterThan("# HELP ".Length + current.Length + 1), "the help text is not empty");
            }
            else if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                Assert.That(parts[2], Is.EqualTo(current), "TYPE follows the family's HELP");
                Assert.That(parts[3], Is.AnyOf("counter", "gauge"));
                declared[parts[2]] = parts[3];
            }
            else
            {
                var name = parts[0].Split('{')[0];
                Assert.That(name, Is.EqualTo(current), $"sample '{line}' belongs to the family declared last");
                Assert.That(parts, Has.Length.EqualTo(2));
                Assert.That(double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out _), Is.True, line);
                if (declared[name] == "counter")
                    Assert.That(name, Does.EndWith("_total"), "counters end in _total");
            }
        }
        Assert.That(declared.Keys, Has.All.Match("^proxyreplacement_[a-z_]+$"));
        Assert.That(declared.Values, Has.None.Empty, "every family has a TYPE");
    }

    [Test]
    public void Counters_and_gauges_render_their_current_values()
    {
        var metrics = new ProxyMetrics();
        metrics.SyncsFull.Increment();
        metrics.SyncsTriggered.Increment(41);
        metrics.SyncsTriggered.Increment();
        metrics.ManifestErrors.Increment(3);
        metrics.LastSyncSeconds.Set(1700000000.25);
        metrics.LastSyncDurationSeconds.Set(0.0042);
        metrics.Services.Set(7);

        var lines = Lines(metrics.Render(null));

        Assert.That(lines, Is.SupersetOf(new[]
        {
            "# HELP proxyreplacement_sync_total Syncs of the NAT maps by kind.",
            "# TYPE proxyreplacement_sync_total counter",
            "proxyreplacement_sync_total{kind=\"full\"} 1",
            "proxyreplacement_sync_total{kind=\"triggered\"} 42",
            "proxyreplacement_manifest_errors_total 3",
            "# TYPE proxyreplacement_sync_last_timestamp_seconds gauge",
            "proxyreplacement_sync_last_timestamp_seconds 1700000000.25",
            "proxyreplacement_sync_last_duration_seconds 0.0042",
            "proxyreplacement_services 7",
            "proxyreplacement_sync_writes_total 0",
        }));
    }

    [Test]
    public void Dataplane_counters_are_labelled_by_snake_case_reason_in_reason_order()
    {
        var counters = new Dictionary<CounterReason, ulong>
        {
            [CounterReason.RejectTcpNoBackend] = 2,
            [CounterReason.NatNewFlow] = 10,
            [CounterReason.PassNotIpv4] = 5,
        };

        var lines = Lines(new ProxyMetrics().Render(counters));

        var samples = lines.Where(line => line.StartsWith("proxyreplacement_dataplane_packets_total", StringComparison.Ordinal)).ToList();
        Assert.That(samples, Is.EqualTo(new[]
        {
            "proxyreplacement_dataplane_packets_total{reason=\"pass_not_ipv4\"} 5",
            "proxyreplacement_dataplane_packets_total{reason=\"nat_new_flow\"} 10",
            "proxyreplacement_dataplane_packets_total{reason=\"reject_tcp_no_backend\"} 2",
        }));
        Assert.That(lines, Does.Contain("# TYPE proxyreplacement_dataplane_packets_total counter"));
    }

    [Test]
    public void The_loaded_build_of_each_object_is_an_info_gauge()
    {
        var metrics = new ProxyMetrics();
        Assert.That(metrics.Render(null), Does.Not.Contain("proxyreplacement_dataplane_variant"), "nothing loaded yet");

        metrics.ObjectVariants["tc_nat"] = "compat";
        metrics.ObjectVariants["sock_lb"] = "fast";
        var lines = Lines(metrics.Render(null));

        Assert.That(lines.Where(line => line.StartsWith("proxyreplacement_dataplane_variant", StringComparison.Ordinal)), Is.EqualTo(new[]
        {
            "proxyreplacement_dataplane_variant{object=\"sock_lb\",variant=\"fast\"} 1",
            "proxyreplacement_dataplane_variant{object=\"tc_nat\",variant=\"compat\"} 1",
        }));
        Assert.That(lines, Does.Contain("# TYPE proxyreplacement_dataplane_variant gauge"));
    }

    [Test]
    public void Without_dataplane_counters_the_family_is_left_out()
    {
        Assert.That(new ProxyMetrics().Render(null), Does.Not.Contain("proxyreplacement_dataplane_packets_total"));
    }

    [TestCase("PassNotIpv4", "pass_not_ipv4")]
    [TestCase("IcmpErrorTranslated", "icmp_error_translated")]
    [TestCase("DropNatFailed", "drop_nat_failed")]
    [TestCase("Nat", "nat")]
    public void Snake_case_splits_at_capitals(string pascal, string expected)
    {
        Assert.That(ProxyMetrics.SnakeCase(pascal), Is.EqualTo(expected));
    }

    [Test]
    public void Every_counter_reason_becomes_a_distinct_lower_case_label()
    {
        var labels = Enum.GetValues<CounterReason>().Select(reason => ProxyMetrics.SnakeCase(reason.ToString())).ToList();

        Assert.That(labels, Is.Unique);
        Assert.That(labels, Has.All.Match("^[a-z][a-z0-9_]*[a-z0-9]$"));
    }

    [Test]
    public void Gauges_go_up_and_down_and_counters_only_add()
    {
        var gauge = new MetricGauge();
        gauge.Set(5);
        gauge.Set(-2.5);
        var counter = new MetricCounter();
        counter.Increment();
        counter.Increment(4);

        Assert.That(gauge.Value, Is.EqualTo(-2.5));
        Assert.That(counter.Value, Is.EqualTo(5));
    }

    [Test]
    public void The_kubernetes_families_appear_once_the_source_runs_with_their_labels()
    {
        var metrics = new ProxyMetrics();
        var before = metrics.Render(null);
        var kubernetes = metrics.Kubernetes;
        kubernetes.Enabled = true;
        kubernetes.Relists.Increment(ProxyReplacement.ServiceProxy.Kubernetes.KubernetesMetrics.ResourceLabels("services", "reason", "initial"));
        kubernetes.Relists.Increment(ProxyReplacement.ServiceProxy.Kubernetes.KubernetesMetrics.ResourceLabels("services", "reason", "gone"), 2);
        kubernetes.WatchRestarts.Increment(ProxyReplacement.ServiceProxy.Kubernetes.KubernetesMetrics.ResourceLabels("nodes", "reason", "dropped"));
        kubernetes.RequestErrors.Increment(ProxyReplacement.ServiceProxy.Kubernetes.KubernetesMetrics.ResourceLabels("endpointslices", "code", "429"));
        kubernetes.ObjectsRejected.Increment(ProxyReplacement.ServiceProxy.Kubernetes.KubernetesMetrics.ResourceLabel("services"));
        kubernetes.ApiUp.Set(1);

        var lines = Lines(metrics.Render(null));

        Assert.Multiple(() =>
        {
            Assert.That(before, Does.Not.Contain("kubernetes"), "a manifest-directory daemon shows no Kubernetes families");
            Assert.That(lines, Does.Contain("proxyreplacement_kubernetes_relists_total{resource=\"services\",reason=\"gone\"} 2"));
            Assert.That(lines, Does.Contain("proxyreplacement_kubernetes_relists_total{resource=\"services\",reason=\"initial\"} 1"));
            Assert.That(lines, Does.Contain("proxyreplacement_kubernetes_watch_restarts_total{resource=\"nodes\",reason=\"dropped\"} 1"));
            Assert.That(lines, Does.Contain("proxyreplacement_kubernetes_request_errors_total{resource=\"endpointslices\",code=\"429\"} 1"));
            Assert.That(lines, Does.Contain("proxyreplacement_kubernetes_objects_rejected_total{resource=\"services\"} 1"));
            Assert.That(lines, Does.Contain("proxyreplacement_kubernetes_api_up 1"));
        });
    }
}
