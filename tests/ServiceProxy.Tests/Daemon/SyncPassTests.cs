using System.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Trace;
using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Telemetry;
using ProxyReplacement.ServiceProxy.Tests.Support;
using ProxyReplacement.ServiceProxy.Tracking;
using static ProxyReplacement.ServiceProxy.Tests.Support.Objects;

namespace ProxyReplacement.ServiceProxy.Tests.Daemon;

/// <summary>One sync pass on fake maps: its trace (OpenTelemetry's in-memory exporter) and kube-proxy's sync metrics.</summary>
public sealed class SyncPassTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 6, 10, 0, 0, TimeSpan.Zero);

    private FakeTimeProvider _time = null!;
    private ChangeTracker _tracker = null!;
    private NatMapsUnderTest _maps = null!;
    private ProxyMetrics _metrics = null!;
    private SyncPass _pass = null!;
    private List<Activity> _spans = null!;
    private TracerProvider _tracing = null!;

    [SetUp]
    public void SetUp()
    {
        _time = new FakeTimeProvider(Start);
        _tracker = new ChangeTracker(_time);
        _maps = new NatMapsUnderTest();
        _metrics = new ProxyMetrics();
        _pass = new SyncPass(_tracker, new Syncer(_maps.Frontends, _maps.Backends), _metrics, _time);
        _spans = [];
        _tracing = Sdk.CreateTracerProviderBuilder().AddSource(ProxyActivitySources.SyncName).AddInMemoryExporter(_spans).Build();
    }

    [TearDown]
    public void TearDown()
    {
        _tracing.Dispose();
        _metrics.Dispose();
    }

    private static EndpointSlice Triggered(EndpointSlice slice, DateTimeOffset at) => slice with { LastChangeTriggerTime = new ChangeTriggerTime(at) };

    private Exposition Scrape() => new(_metrics.ScrapeAsync().GetAwaiter().GetResult());

    [Test]
    public void A_sync_is_one_trace_with_commit_build_diff_and_apply_spans()
    {
        _tracker.UpsertService(Service("web", "10.96.0.10"));
        _tracker.UpsertEndpointSlice(Slice("web-1", "web", "10.0.0.1", "10.0.0.2"));

        _pass.Run(full: true);
        _tracing.ForceFlush();

        var root = _spans.Single(span => span.DisplayName == "sync");
        var children = _spans.Where(span => span.ParentSpanId == root.SpanId).Select(span => span.DisplayName).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(_spans.Select(span => span.TraceId).Distinct().Count(), Is.EqualTo(1), "one trace");
            Assert.That(children, Is.EqualTo(new[] { "commit", "read maps", "build", "diff", "apply" }));
            Assert.That(root.GetTagItem("sync.kind"), Is.EqualTo("full"));
            Assert.That(root.GetTagItem("services"), Is.EqualTo(1));
            Assert.That(root.GetTagItem("writes"), Is.EqualTo(3), "two backends and a frontend");
            Assert.That(root.GetTagItem("problems"), Is.EqualTo(0));
            Assert.That(root.Status, Is.EqualTo(ActivityStatusCode.Unset));
            Assert.That(_spans.Single(span => span.DisplayName == "apply").GetTagItem("writes"), Is.EqualTo(3));
            Assert.That(_spans.Single(span => span.DisplayName == "build").GetTagItem("path"), Is.EqualTo("rebuild"));
        });
    }

    [Test]
    public void An_endpoint_only_change_is_built_on_the_incremental_path_and_traced_so()
    {
        _tracker.UpsertService(Service("web", "10.96.0.10"));
        _tracker.UpsertEndpointSlice(Slice("web-1", "web", "10.0.0.1"));
        _pass.Run(full: true);
        _spans.Clear();

        _tracker.UpsertEndpointSlice(Slice("web-1", "web", "10.0.0.1", "10.0.0.2"));
        _pass.Run(full: false);
        _tracing.ForceFlush();

        var build = _spans.Single(span => span.DisplayName == "build");
        Assert.Multiple(() =>
        {
            Assert.That(build.GetTagItem("path"), Is.EqualTo("incremental"));
            Assert.That(build.GetTagItem("taken"), Is.EqualTo(true));
            Assert.That(_spans.Any(span => span.DisplayName == "read maps"), Is.False, "a triggered sync trusts its view");
            Assert.That(_spans.Single(span => span.DisplayName == "sync").GetTagItem("sync.kind"), Is.EqualTo("triggered"));
        });
    }

    [Test]
    public void A_Service_added_is_built_incrementally_and_each_path_is_counted()
    {
        _tracker.UpsertService(Service("web", "10.96.0.10"));
        _pass.Run(full: true);
        _tracker.UpsertService(Service("api", "10.96.0.11"));
        _pass.Run(full: false);
        _tracing.ForceFlush();

        var exposition = Scrape();
        Assert.Multiple(() =>
        {
            Assert.That(_spans.Last(span => span.DisplayName == "build").GetTagItem("path"), Is.EqualTo("incremental"));
            Assert.That(_spans.Last(span => span.DisplayName == "sync").GetTagItem("sync.path"), Is.EqualTo("incremental (1 Services)"));
            Assert.That(exposition.Value("proxyreplacement_sync_path_total{path=\"incremental\",reason=\"none\"}"), Is.EqualTo(1));
            Assert.That(exposition.Value("proxyreplacement_sync_path_total{path=\"rebuild\",reason=\"full_resync\"}"), Is.EqualTo(1));
        });
    }

    [Test]
    public void Failed_writes_make_the_trace_an_error_and_hold_back_the_programmed_timestamp()
    {
        var maps = new NatMapsUnderTest(maxFrontends: 1);
        var pass = new SyncPass(_tracker, new Syncer(maps.Frontends, maps.Backends), _metrics, _time);
        _tracker.UpsertService(Service("a", "10.96.0.10"));
        _tracker.UpsertService(Service("b", "10.96.0.11"));

        var outcome = pass.Run(full: true);
        _tracing.ForceFlush();

        var root = _spans.Single(span => span.DisplayName == "sync");
        Assert.Multiple(() =>
        {
            Assert.That(outcome.Result.Problems, Is.Not.Empty);
            Assert.That(root.Status, Is.EqualTo(ActivityStatusCode.Error));
            Assert.That(root.StatusDescription, Does.Contain("WriteFailed"));
            Assert.That(_metrics.LastSyncTimestamp, Is.Zero, "not programmed as asked");
            Assert.That(Scrape().Value("proxyreplacement_sync_problems_total"), Is.EqualTo(outcome.Result.Problems.Count));
        });
    }

    [Test]
    public void Each_sync_is_observed_in_the_kube_proxy_histograms_by_kind()
    {
        _tracker.UpsertService(Service("web", "10.96.0.10"));
        _pass.Run(full: true);
        _pass.Run(full: false);
        _pass.Run(full: false);

        var exposition = Scrape();
        Assert.Multiple(() =>
        {
            Assert.That(exposition.Value("kubeproxy_sync_proxy_rules_duration_seconds_count"), Is.EqualTo(3));
            Assert.That(exposition.Value("kubeproxy_sync_full_proxy_rules_duration_seconds_count"), Is.EqualTo(1));
            Assert.That(exposition.Value("kubeproxy_sync_partial_proxy_rules_duration_seconds_count"), Is.EqualTo(2));
            Assert.That(exposition.Value("kubeproxy_sync_proxy_rules_last_timestamp_seconds"), Is.EqualTo(Start.ToUnixTimeSeconds()));
            Assert.That(exposition.Value("proxyreplacement_sync_total{kind=\"triggered\"}"), Is.EqualTo(2));
        });
    }

    [Test]
    public void Network_programming_latency_runs_from_the_trigger_time_to_the_write_that_applied_it()
    {
        _tracker.UpsertService(Service("web", "10.96.0.10"));
        _pass.Run(full: true);

        _time.Advance(TimeSpan.FromSeconds(10));
        _tracker.UpsertEndpointSlice(Triggered(Slice("web-1", "web", "10.0.0.1"), _time.GetUtcNow()));
        _time.Advance(TimeSpan.FromSeconds(2));
        _tracker.UpsertEndpointSlice(Triggered(Slice("web-2", "web", "10.0.0.2"), _time.GetUtcNow()));
        _time.Advance(TimeSpan.FromSeconds(0.4));
        _pass.Run(full: false);

        var exposition = Scrape();
        Assert.Multiple(() =>
        {
            Assert.That(exposition.Value("kubeproxy_network_programming_duration_seconds_count"), Is.EqualTo(2));
            Assert.That(exposition.Value("kubeproxy_network_programming_duration_seconds_bucket{le=\"0.5\"}"), Is.EqualTo(1), "0.4 s");
            Assert.That(exposition.Value("kubeproxy_network_programming_duration_seconds_bucket{le=\"2\"}"), Is.EqualTo(1));
            Assert.That(exposition.Value("kubeproxy_network_programming_duration_seconds_bucket{le=\"3\"}"), Is.EqualTo(2), "2.4 s");
            Assert.That(exposition.Value("kubeproxy_network_programming_duration_seconds_sum"), Is.EqualTo(2.8).Within(1e-9));
        });
    }

    [Test]
    public void Trigger_times_from_before_the_start_and_of_no_op_updates_are_not_counted()
    {
        _tracker.UpsertService(Service("web", "10.96.0.10"));
        _tracker.UpsertEndpointSlice(Triggered(Slice("web-1", "web", "10.0.0.1"), Start.AddHours(-3))); // a first list
        _pass.Run(full: true);
        _time.Advance(TimeSpan.FromSeconds(5));

        // Only the annotation differs: the same slice, no change, no sample.
        var accepted = _tracker.UpsertEndpointSlice(Triggered(Slice("web-1", "web", "10.0.0.1"), _time.GetUtcNow()));
        _pass.Run(full: false);

        Assert.Multiple(() =>
        {
            Assert.That(accepted, Is.False, "the trigger time is not part of the slice's equality");
            Assert.That(Scrape().Value("kubeproxy_network_programming_duration_seconds_count"), Is.Zero);
        });
    }

    [Test]
    public void A_relist_carries_the_trigger_times_of_the_slices_it_changed()
    {
        _tracker.UpsertService(Service("web", "10.96.0.10"));
        _pass.Run(full: true);
        _time.Advance(TimeSpan.FromSeconds(1));

        _tracker.ReplaceAll([Service("web", "10.96.0.10")], [Triggered(Slice("web-1", "web", "10.0.0.1"), _time.GetUtcNow())]);
        _time.Advance(TimeSpan.FromSeconds(1));
        var outcome = _pass.Run(full: false);

        Assert.Multiple(() =>
        {
            Assert.That(outcome.Commit.TriggerTimes, Has.Count.EqualTo(1));
            Assert.That(Scrape().Value("kubeproxy_network_programming_duration_seconds_sum"), Is.EqualTo(1));
        });
    }
}
