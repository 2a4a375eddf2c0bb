using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Kubernetes;

namespace ProxyReplacement.ServiceProxy.Tests.Daemon;

public sealed class ProxyMetricsTests
{
    private ProxyMetrics _metrics = null!;

    [SetUp]
    public void SetUp() => _metrics = new ProxyMetrics();

    [TearDown]
    public void TearDown() => _metrics.Dispose();

    private Exposition Scrape() => new(_metrics.ScrapeAsync().GetAwaiter().GetResult());

    [Test]
    public void Every_family_of_ours_has_our_prefix_and_every_counter_ends_in_total()
    {
        _metrics.Kubernetes.Enabled = true;
        var exposition = Scrape();

        var ours = exposition.Types.Keys.Where(name => !name.StartsWith("process_", StringComparison.Ordinal)
            && !name.StartsWith("dotnet_", StringComparison.Ordinal) && !name.StartsWith("kubeproxy_", StringComparison.Ordinal)).ToList();
        Assert.That(ours, Is.Not.Empty);
        Assert.That(ours, Has.All.Match("^proxyreplacement_[a-z_]+$"));
        var counters = exposition.Types.Where(pair => pair.Value == "counter").Select(pair => pair.Key).ToList();
        Assert.That(counters, Has.All.EndsWith("_total"));
    }

    [Test]
    public void Counters_and_gauges_show_their_current_values()
    {
        _metrics.SyncsFull.Increment();
        _metrics.SyncsTriggered.Increment(41);
        _metrics.SyncsTriggered.Increment();
        _metrics.ManifestErrors.Increment(3);
        _metrics.Services.Set(7);
        _metrics.RecordSyncTime(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_250));

        var exposition = Scrape();

        Assert.Multiple(() =>
        {
            Assert.That(exposition.Types["proxyreplacement_sync_total"], Is.EqualTo("counter"));
            Assert.That(exposition.Value("proxyreplacement_sync_total{kind=\"full\"}"), Is.EqualTo(1));
            Assert.That(exposition.Value("proxyreplacement_sync_total{kind=\"triggered\"}"), Is.EqualTo(42));
            Assert.That(exposition.Value("proxyreplacement_manifest_errors_total"), Is.EqualTo(3));
            Assert.That(exposition.Value("proxyreplacement_sync_writes_total"), Is.Zero);
            Assert.That(exposition.Value("proxyreplacement_services"), Is.EqualTo(7));
            Assert.That(exposition.Types["kubeproxy_sync_proxy_rules_last_timestamp_seconds"], Is.EqualTo("gauge"));
            Assert.That(exposition.Value("kubeproxy_sync_proxy_rules_last_timestamp_seconds"), Is.EqualTo(1_700_000_000.25));
            Assert.That(_metrics.SyncsTriggered.Value, Is.EqualTo(42));
        });
    }

    [Test]
    public void Sync_durations_are_histograms_with_kube_proxy_buckets()
    {
        _metrics.SyncDuration.Record(0.003);
        _metrics.SyncDuration.Record(20);
        _metrics.NetworkProgrammingDuration.Record(0.3);

        var exposition = Scrape();

        Assert.Multiple(() =>
        {
            Assert.That(exposition.Types["kubeproxy_sync_proxy_rules_duration_seconds"], Is.EqualTo("histogram"));
            Assert.That(exposition.Value("kubeproxy_sync_proxy_rules_duration_seconds_count"), Is.EqualTo(2));
            Assert.That(exposition.Value("kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"0.002\"}"), Is.Zero);
            Assert.That(exposition.Value("kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"0.004\"}"), Is.EqualTo(1));
            Assert.That(exposition.Value("kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"16.384\"}"), Is.EqualTo(1));
            Assert.That(exposition.Value("kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"+Inf\"}"), Is.EqualTo(2));
            Assert.That(exposition.Value("kubeproxy_network_programming_duration_seconds_bucket{le=\"0.25\"}"), Is.Zero);
            Assert.That(exposition.Value("kubeproxy_network_programming_duration_seconds_bucket{le=\"0.5\"}"), Is.EqualTo(1));
            Assert.That(exposition.Value("kubeproxy_network_programming_duration_seconds_bucket{le=\"300\"}"), Is.EqualTo(1));
            Assert.That(exposition.Types["kubeproxy_sync_full_proxy_rules_duration_seconds"], Is.EqualTo("histogram"));
            Assert.That(exposition.Types["kubeproxy_sync_partial_proxy_rules_duration_seconds"], Is.EqualTo("histogram"));
        });
    }

    [Test]
    public void Change_counters_are_read_from_the_tracker_at_scrape_time()
    {
        var tracker = new ProxyReplacement.ServiceProxy.Tracking.ChangeTracker();
        _metrics.ChangeStats = () => tracker.Stats;
        tracker.UpsertService(Support.Objects.Service("a", "10.96.0.1"));
        tracker.UpsertService(Support.Objects.Service("a", "10.96.0.1")); // no-op: not a change
        tracker.UpsertEndpointSlice(Support.Objects.Slice("a-1", "a", "10.0.0.1"));
        tracker.UpsertEndpointSlice(Support.Objects.Slice("a-1", "a", "10.0.0.2"));

        var before = Scrape();
        tracker.Commit();
        var after = Scrape();

        Assert.Multiple(() =>
        {
            Assert.That(before.Value("kubeproxy_sync_proxy_rules_service_changes_total"), Is.EqualTo(1));
            Assert.That(before.Value("kubeproxy_sync_proxy_rules_service_changes_pending"), Is.EqualTo(1));
            Assert.That(before.Value("kubeproxy_sync_proxy_rules_endpoint_changes_total"), Is.EqualTo(2));
            Assert.That(before.Value("kubeproxy_sync_proxy_rules_endpoint_changes_pending"), Is.EqualTo(1), "one slice, changed twice");
            Assert.That(after.Value("kubeproxy_sync_proxy_rules_endpoint_changes_total"), Is.EqualTo(2));
            Assert.That(after.Value("kubeproxy_sync_proxy_rules_endpoint_changes_pending"), Is.Zero);
            Assert.That(after.Types["kubeproxy_sync_proxy_rules_endpoint_changes_total"], Is.EqualTo("counter"));
            Assert.That(after.Types["kubeproxy_sync_proxy_rules_service_changes_pending"], Is.EqualTo("gauge"));
        });
    }

    [Test]
    public void Dataplane_counters_are_read_at_scrape_time_by_snake_case_reason()
    {
        var exposition = Scrape();
        Assert.That(exposition.HasSample("proxyreplacement_dataplane_packets_total"), Is.False, "no dataplane loaded yet");

        _metrics.DataplaneCounters = () => new Dictionary<CounterReason, ulong>
        {
            [CounterReason.RejectTcpNoBackend] = 2,
            [CounterReason.NatNewFlow] = 10,
            [CounterReason.PassNotIpv4] = 5,
        };
        exposition = Scrape();

        Assert.Multiple(() =>
        {
            Assert.That(exposition.Types["proxyreplacement_dataplane_packets_total"], Is.EqualTo("counter"));
            Assert.That(exposition.Value("proxyreplacement_dataplane_packets_total{reason=\"pass_not_ipv4\"}"), Is.EqualTo(5));
            Assert.That(exposition.Value("proxyreplacement_dataplane_packets_total{reason=\"nat_new_flow\"}"), Is.EqualTo(10));
            Assert.That(exposition.Value("proxyreplacement_dataplane_packets_total{reason=\"reject_tcp_no_backend\"}"), Is.EqualTo(2));
        });
    }

    [Test]
    public void The_loaded_build_of_each_object_is_an_info_gauge_that_follows_unloading()
    {
        Assert.That(Scrape().HasSample("proxyreplacement_dataplane_variant"), Is.False, "nothing loaded yet");

        _metrics.ObjectVariants["tc_nat"] = "compat";
        _metrics.ObjectVariants["sock_lb"] = "fast";
        var loaded = Scrape();
        _metrics.ObjectVariants.TryRemove("sock_lb", out _);
        var unloaded = Scrape();

        Assert.Multiple(() =>
        {
            Assert.That(loaded.Types["proxyreplacement_dataplane_variant"], Is.EqualTo("gauge"));
            Assert.That(loaded.Value("proxyreplacement_dataplane_variant{object=\"sock_lb\",variant=\"fast\"}"), Is.EqualTo(1));
            Assert.That(loaded.Value("proxyreplacement_dataplane_variant{object=\"tc_nat\",variant=\"compat\"}"), Is.EqualTo(1));
            Assert.That(unloaded.HasSample("proxyreplacement_dataplane_variant{object=\"sock_lb\""), Is.False);
            Assert.That(unloaded.Value("proxyreplacement_dataplane_variant{object=\"tc_nat\",variant=\"compat\"}"), Is.EqualTo(1));
        });
    }

    [TestCase("PassNotIpv4", "pass_not_ipv4")]
    [TestCase("IcmpErrorTranslated", "icmp_error_translated")]
    [TestCase("DropNatFailed", "drop_nat_failed")]
    [TestCase("Nat", "nat")]
    [TestCase(nameof(CounterReason.NatDirect), "nat_direct")] // the fast path's new flows (ABI 5)
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
    public void The_kubernetes_families_show_samples_once_the_source_runs_with_their_labels_in_order()
    {
        var before = Scrape();
        var kubernetes = _metrics.Kubernetes;
        kubernetes.Enabled = true;
        kubernetes.Relists.Increment(KubernetesMetrics.ResourceLabels("services", "reason", "initial"));
        kubernetes.Relists.Increment(KubernetesMetrics.ResourceLabels("services", "reason", "gone"), 2);
        kubernetes.WatchRestarts.Increment(KubernetesMetrics.ResourceLabels("nodes", "reason", "dropped"));
        kubernetes.RequestErrors.Increment(KubernetesMetrics.ResourceLabels("endpointslices", "code", "429"));
        kubernetes.ObjectsRejected.Increment(KubernetesMetrics.ResourceLabel("services"));
        kubernetes.ApiUp.Set(1);

        var after = Scrape();

        Assert.Multiple(() =>
        {
            Assert.That(before.Samples.Where(line => line.Contains("kubernetes", StringComparison.Ordinal)), Is.Empty,
                "a manifest-directory daemon shows no Kubernetes samples");
            Assert.That(after.Samples, Does.Contain("proxyreplacement_kubernetes_relists_total{resource=\"services\",reason=\"gone\"} 2"));
            Assert.That(after.Samples, Does.Contain("proxyreplacement_kubernetes_relists_total{resource=\"services\",reason=\"initial\"} 1"));
            Assert.That(after.Samples, Does.Contain("proxyreplacement_kubernetes_watch_restarts_total{resource=\"nodes\",reason=\"dropped\"} 1"));
            Assert.That(after.Samples, Does.Contain("proxyreplacement_kubernetes_request_errors_total{resource=\"endpointslices\",code=\"429\"} 1"));
            Assert.That(after.Samples, Does.Contain("proxyreplacement_kubernetes_objects_rejected_total{resource=\"services\"} 1"));
            Assert.That(after.Samples, Does.Contain("proxyreplacement_kubernetes_api_up 1"));
            Assert.That(kubernetes.Relists.Value(KubernetesMetrics.ResourceLabels("services", "reason", "gone")), Is.EqualTo(2));
            Assert.That(kubernetes.Relists.Total, Is.EqualTo(3));
        });
    }

    [Test]
    public void The_standard_process_metrics_are_there()
    {
        var exposition = Scrape();

        Assert.Multiple(() =>
        {
            Assert.That(exposition.Types["process_cpu_seconds_total"], Is.EqualTo("counter"));
            Assert.That(exposition.Types["process_resident_memory_bytes"], Is.EqualTo("gauge"));
            Assert.That(exposition.Value("process_resident_memory_bytes"), Is.GreaterThan(1_000_000));
            Assert.That(exposition.Types["process_start_time_seconds"], Is.EqualTo("gauge"));
            Assert.That(exposition.Value("process_open_fds"), Is.GreaterThan(2));
            Assert.That(exposition.Types["process_virtual_memory_bytes"], Is.EqualTo("gauge"));
        });
    }
}
