using System.Net;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Parsing;

namespace ProxyReplacement.ServiceProxy.Tests.Parsing;

/// <summary>The fields of the external entry points, traffic policies and topology, read from manifests.</summary>
public sealed class ExternalFieldsParsingTests
{
    private static string LoadBalancer(string extraSpec = "", string status = "", string annotations = "{}") => $$"""
        apiVersion: v1
        kind: Service
        metadata: {name: web, namespace: apps, annotations: {{annotations}}}
        spec:
          type: LoadBalancer
          clusterIP: 10.96.1.2
          ports: [{port: 80, nodePort: 30080}]
          {{extraSpec}}
        {{status}}
        """;

    [Test]
    public void Reads_external_ips_ingress_with_ip_mode_source_ranges_and_health_check_port()
    {
        var set = ManifestReader.Parse(LoadBalancer(
            "externalIPs: [192.0.2.10]\n  loadBalancerSourceRanges: [198.51.100.0/24, 203.0.113.7/32]\n  healthCheckNodePort: 31000\n  externalTrafficPolicy: Local\n  trafficDistribution: PreferClose",
            "status: {loadBalancer: {ingress: [{ip: 192.0.2.20}, {ip: 192.0.2.21, ipMode: Proxy}, {hostname: lb.example.com}]}}"), "a.yaml");

        Assert.That(set.Diagnostics, Is.Empty);
        var service = set.Services.Single();
        Assert.Multiple(() =>
        {
            Assert.That(service.ExternalIPs, Is.EqualTo(new[] { IPAddress.Parse("192.0.2.10") }));
            Assert.That(service.LoadBalancerIngress, Is.EqualTo(new[]
            {
                new LoadBalancerIngress(IPAddress.Parse("192.0.2.20")),
                new LoadBalancerIngress(IPAddress.Parse("192.0.2.21"), LoadBalancerIPMode.Proxy),
            }));
            Assert.That(service.LoadBalancerSourceRanges, Is.EqualTo(new[] { IPNetwork.Parse("198.51.100.0/24"), IPNetwork.Parse("203.0.113.7/32") }));
            Assert.That(service.HealthCheckNodePort, Is.EqualTo(31000));
            Assert.That(service.ExternalTrafficPolicy, Is.EqualTo(TrafficPolicy.Local));
            Assert.That(service.TrafficDistribution, Is.EqualTo("PreferClose"));
            Assert.That(service.Ports.Single().NodePort, Is.EqualTo(30080));
        });
    }

    [Test]
    public void Source_ranges_come_from_the_annotation_when_the_field_is_empty_with_host_bits_cleared()
    {
        var service = ManifestReader.Parse(LoadBalancer(annotations: $"{{{Service.SourceRangesAnnotation}: '10.1.2.3/8, 192.0.2.0/24'}}"), "a.yaml")
            .Services.Single();

        Assert.That(service.LoadBalancerSourceRanges, Is.EqualTo(new[] { IPNetwork.Parse("10.0.0.0/8"), IPNetwork.Parse("192.0.2.0/24") }));
    }

    [TestCase("dsr", "dsr")]
    [TestCase("'fast'", "fast")] // not a mode: still a Service, the Syncer reports the value (Sync/ExternalModes)
    public void The_external_service_mode_annotation_is_carried_as_written(string yamlValue, string expected)
    {
        var set = ManifestReader.Parse(LoadBalancer(annotations: $"{{{Service.ExternalServiceModeAnnotation}: {yamlValue}}}"), "a.yaml");

        Assert.That(set.Diagnostics, Is.Empty);
        Assert.That(set.Services.Single().ExternalServiceMode, Is.EqualTo(expected));
    }

    [Test]
    public void Without_the_annotation_the_service_has_no_external_service_mode() =>
        Assert.That(ManifestReader.Parse(LoadBalancer(), "a.yaml").Services.Single().ExternalServiceMode, Is.Null);

    [TestCase("externalIPs: [192.0.2.300]", "spec.externalIPs[0]: '192.0.2.300' is not a valid IP address")]
    [TestCase("loadBalancerSourceRanges: [10.0.0.0/33]", "spec.loadBalancerSourceRanges[0]: '10.0.0.0/33' has an invalid prefix length")]
    [TestCase("loadBalancerSourceRanges: [10.0.0.0]", "spec.loadBalancerSourceRanges[0]: '10.0.0.0' is not a CIDR")]
    public void Malformed_fields_reject_the_service_with_their_path(string extraSpec, string message)
    {
        var set = ManifestReader.Parse(LoadBalancer(extraSpec), "a.yaml");

        Assert.That(set.Services, Is.Empty);
        Assert.That(set.Diagnostics.Single().Reason, Does.StartWith(message));
    }

    [Test]
    public void An_unknown_ip_mode_is_rejected()
    {
        var set = ManifestReader.Parse(LoadBalancer(status: "status: {loadBalancer: {ingress: [{ip: 192.0.2.20, ipMode: Tunnel}]}}"), "a.yaml");

        Assert.That(set.Diagnostics.Single().Reason, Does.StartWith("status.loadBalancer.ingress[0].ipMode: unknown value 'Tunnel'"));
    }

    [Test]
    public void Ingress_of_a_service_that_is_not_a_load_balancer_is_ignored()
    {
        var yaml = LoadBalancer(status: "status: {loadBalancer: {ingress: [{ip: 192.0.2.20}]}}").Replace("type: LoadBalancer", "type: NodePort");

        Assert.That(ManifestReader.Parse(yaml, "a.yaml").Services.Single().LoadBalancerIngress, Is.Empty);
    }

    [Test]
    public void Reads_endpoint_hints()
    {
        var set = ManifestReader.Parse("""
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata: {name: web-1, labels: {kubernetes.io/service-name: web}}
            addressType: IPv4
            endpoints:
            - addresses: [10.0.0.1]
              zone: zone-a
              hints: {forZones: [{name: zone-a}], forNodes: [{name: node-1}]}
            - addresses: [10.0.0.2]
            ports: [{port: 8080}]
            """, "a.yaml");

        Assert.That(set.Diagnostics, Is.Empty);
        var endpoints = set.EndpointSlices.Single().Endpoints;
        Assert.That(endpoints[0].Hints, Is.EqualTo(new EndpointHints(new[] { "zone-a" }.ToEquatableList(), new[] { "node-1" }.ToEquatableList())));
        Assert.That(endpoints[1].Hints, Is.Null);
    }
}
