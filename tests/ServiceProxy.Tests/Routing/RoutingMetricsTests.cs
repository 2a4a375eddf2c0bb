using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Tests.Daemon;

namespace ProxyReplacement.ServiceProxy.Tests.Routing;

/// <summary>The routing module's metrics as /metrics shows them.</summary>
public sealed class RoutingMetricsTests
{
    [Test]
    public void Routes_by_type_and_owner_writes_and_conflicts_are_exposed()
    {
        using var metrics = new ProxyMetrics();
        var node = IPAddress.Parse("192.168.1.11");
        metrics.Routing.RecordEntries(
        [
            new RouteValue(RouteFlags.Local, null),
            new RouteValue(RouteFlags.Remote, node),
            new RouteValue(RouteFlags.Remote, node),
            new RouteValue(RouteFlags.Remote | RouteFlags.Node, node),
        ]);
        metrics.Routing.Writes.Increment(4);
        metrics.Routing.WriteErrors.Increment();
        metrics.Routing.Conflicts.Set(2);

        var exposition = new Exposition(metrics.ScrapeAsync().GetAwaiter().GetResult());

        Assert.Multiple(() =>
        {
            Assert.That(exposition.Types["proxyreplacement_routes"], Is.EqualTo("gauge"));
            Assert.That(exposition.Value("proxyreplacement_routes{type=\"pod_cidr\",owner=\"local\"}"), Is.EqualTo(1));
            Assert.That(exposition.Value("proxyreplacement_routes{type=\"pod_cidr\",owner=\"remote\"}"), Is.EqualTo(2));
            Assert.That(exposition.Value("proxyreplacement_routes{type=\"node_address\",owner=\"local\"}"), Is.Zero);
            Assert.That(exposition.Value("proxyreplacement_routes{type=\"node_address\",owner=\"remote\"}"), Is.EqualTo(1));
            Assert.That(exposition.Types["proxyreplacement_route_writes_total"], Is.EqualTo("counter"));
            Assert.That(exposition.Value("proxyreplacement_route_writes_total"), Is.EqualTo(4));
            Assert.That(exposition.Value("proxyreplacement_route_write_errors_total"), Is.EqualTo(1));
            Assert.That(exposition.Value("proxyreplacement_route_conflicts"), Is.EqualTo(2));
        });
    }
}
