using System.Text.Json;
using ProxyReplacement.ServiceProxy.Kubernetes;
using ProxyReplacement.ServiceProxy.Kubernetes.Api;
using ProxyReplacement.ServiceProxy.Kubernetes.Objects;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Parsing;

namespace ProxyReplacement.ServiceProxy.Tests.Kubernetes;

/// <summary>
/// One set of rules: the same object, read as a manifest (JSON is YAML) and decoded as an API object,
/// gives the same model or the same rejection, word for word.
/// </summary>
public sealed class ApiObjectConversionTests
{
    private static readonly ProxyLabelFilter Unnamed = new((string?)null);

    private static string ServiceJson(string spec) =>
        """{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "apps"}, "spec": {""" + spec + "}}";

    private static string SliceJson(string body, string labels = "\"kubernetes.io/service-name\": \"web\"") =>
        """{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "web-1", "namespace": "apps", "labels": {""" + labels + "}}, " + body + "}";

    private static Conversion<Service> ApiService(string json) =>
        ApiObjectConversion.Service(ApiResources.Services.Decode(JsonDocument.Parse(json).RootElement), Unnamed);

    private static Conversion<EndpointSlice> ApiSlice(string json) =>
        ApiObjectConversion.EndpointSlice(ApiResources.EndpointSlices.Decode(JsonDocument.Parse(json).RootElement), Unnamed);

    [TestCase("\"clusterIP\": \"10.96.300.1\", \"ports\": [{\"port\": 80}]")]
    [TestCase("\"clusterIP\": \"10.96.0.1\", \"clusterIPs\": [\"10.96.0.2\"], \"ports\": [{\"port\": 80}]")]
    [TestCase("\"ports\": [{\"port\": 80}]")]
    [TestCase("\"clusterIP\": \"10.96.0.1\", \"ports\": [{\"port\": 70000}]")]
    [TestCase("\"clusterIP\": \"10.96.0.1\", \"ports\": [{\"port\": \"eighty\"}]")]
    [TestCase("\"clusterIP\": \"10.96.0.1\", \"ports\": [{\"port\": 80, \"protocol\": \"TCPX\"}]")]
    [TestCase("\"clusterIP\": \"10.96.0.1\", \"ports\": [{\"name\": \"a\", \"port\": 80}, {\"name\": \"a\", \"port\": 81}]")]
    [TestCase("\"clusterIP\": \"10.96.0.1\", \"ports\": [{\"port\": 80, \"targetPort\": \"Not_A_Name\"}]")]
    // the API server's validation of the other fields read (issue 14: a multi-port Service with an unnamed port)
    [TestCase("\"clusterIP\": \"10.96.0.1\", \"ports\": [{\"name\": \"a\", \"port\": 80}, {\"port\": 81}]")]
    [TestCase("\"clusterIP\": \"10.96.0.1\", \"type\": \"NodePort\", \"ports\": [{\"port\": 80, \"nodePort\": 70000}]")]
    [TestCase("\"clusterIP\": \"10.96.0.1\", \"externalIPs\": [\"300.1.1.1\"], \"ports\": [{\"port\": 80}]")]
    [TestCase("\"clusterIP\": \"10.96.0.1\", \"sessionAffinity\": \"Cookie\", \"ports\": [{\"port\": 80}]")]
    [TestCase("\"clusterIP\": \"10.96.0.1\", \"externalTrafficPolicy\": \"Nearest\", \"type\": \"NodePort\", \"ports\": [{\"port\": 80}]")]
    [TestCase("\"clusterIP\": \"10.96.0.1\", \"internalTrafficPolicy\": \"Nearest\", \"ports\": [{\"port\": 80}]")]
    [TestCase("\"clusterIP\": \"10.96.0.1\", \"type\": \"Weird\", \"ports\": [{\"port\": 80}]")]
    [TestCase("\"clusterIP\": \"10.96.0.1\", \"sessionAffinity\": \"ClientIP\", \"sessionAffinityConfig\": {\"clientIP\": {\"timeoutSeconds\": 0}}, \"ports\": [{\"port\": 80}]")]
    public void A_bad_service_is_rejected_with_the_manifest_readers_words(string spec)
    {
        var json = ServiceJson(spec);

        var manifest = ManifestReader.Parse(json, "svc.json").Diagnostics.Single().Reason;
        var api = ApiService(json);

        Assert.Multiple(() =>
        {
            Assert.That(api.Value, Is.Null);
            Assert.That(api.Key, Is.EqualTo(new ObjectKey("apps", "web")));
            Assert.That(api.Rejection, Is.EqualTo(manifest));
        });
    }

    [TestCase("\"addressType\": \"IPv5\", \"endpoints\": []")]
    [TestCase("\"addressType\": \"IPv4\", \"endpoints\": [{\"addresses\": [\"10.244.0.300\"]}]")]
    [TestCase("\"addressType\": \"IPv4\", \"endpoints\": [{\"addresses\": [\"fd00::1\"]}]")]
    [TestCase("\"addressType\": \"IPv4\", \"endpoints\": [{\"addresses\": []}]")]
    [TestCase("\"addressType\": \"IPv4\", \"endpoints\": [{\"addresses\": [\"10.244.0.1\"], \"conditions\": {\"ready\": \"yes\"}}]")]
    [TestCase("\"addressType\": \"IPv4\", \"ports\": [{\"port\": 0}]")]
    public void A_bad_endpoint_slice_is_rejected_with_the_manifest_readers_words(string body)
    {
        var json = SliceJson(body);

        var manifest = ManifestReader.Parse(json, "slice.json").Diagnostics.Single().Reason;
        var api = ApiSlice(json);

        Assert.That(api.Rejection, Is.EqualTo(manifest));
    }

    [Test]
    public void A_slice_without_its_service_label_is_rejected_alike()
    {
        var json = SliceJson("\"addressType\": \"IPv4\"", labels: "\"app\": \"web\"");

        Assert.That(ApiSlice(json).Rejection, Is.EqualTo(ManifestReader.Parse(json, "s.json").Diagnostics.Single().Reason));
    }

    [Test]
    public void A_good_service_becomes_the_same_model_on_both_paths()
    {
        var json = ServiceJson("""
            "type": "NodePort", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"], "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}, "externalTrafficPolicy": "Local",
            "ports": [{"name": "http", "port": 80, "targetPort": "web", "nodePort": 30080}, {"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 5353}]
            """);

        var manifest = ManifestReader.Parse(json, "svc.json").Services.Single();
        var api = ApiService(json);

        Assert.Multiple(() =>
        {
            Assert.That(api.Value, Is.EqualTo(manifest));
            Assert.That(api.Value!.Ports[0].TargetPort, Is.EqualTo(TargetPort.FromName("web")));
            Assert.That(api.Value.SessionAffinityTimeoutSeconds, Is.EqualTo(60));
        });
    }

    [TestCase("\"type\": \"ExternalName\"")]
    [TestCase("\"clusterIP\": \"None\", \"ports\": [{\"port\": 80}]")]
    public void Headless_and_external_name_services_are_skipped_without_a_rejection(string spec)
    {
        var api = ApiService(ServiceJson(spec));

        Assert.Multiple(() =>
        {
            Assert.That(api.Value, Is.Null);
            Assert.That(api.Rejection, Is.Null);
            Assert.That(api.Key, Is.EqualTo(new ObjectKey("apps", "web")));
        });
    }

    [Test]
    public void An_api_object_must_name_its_namespace_and_a_node_gives_addresses_and_zone()
    {
        var noNamespace = ApiService("""{"metadata": {"name": "web"}, "spec": {"clusterIP": "10.96.0.1", "ports": [{"port": 80}]}}""");
        var node = ApiObjectConversion.Node(ApiResources.Nodes.Decode(JsonDocument.Parse("""
            {"metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "z1"}},
             "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.1"}, {"type": "ExternalIP", "address": "203.0.113.9"},
                                      {"type": "Future", "address": "?"}]}}
            """).RootElement));
        var badNode = ApiObjectConversion.Node(ApiResources.Nodes.Decode(JsonDocument.Parse(
            """{"metadata": {"name": "n2"}, "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.300"}]}}""").RootElement));

        Assert.Multiple(() =>
        {
            Assert.That(noNamespace.Rejection, Is.EqualTo("metadata.namespace: required"));
            Assert.That(node.Value!.Zone, Is.EqualTo("z1"));
            Assert.That(node.Value.IPs(NodeAddressType.InternalIP).Select(ip => ip.ToString()), Is.EqualTo(new[] { "192.168.0.1" }));
            Assert.That(node.Value.IPs(NodeAddressType.ExternalIP).Select(ip => ip.ToString()), Is.EqualTo(new[] { "203.0.113.9" }));
            Assert.That(node.Value.Addresses, Has.Count.EqualTo(2), "an address type newer than the proxy is ignored");
            Assert.That(badNode.Rejection, Is.EqualTo("status.addresses[0].address: '192.168.0.300' is not a valid IP address"));
            Assert.That(badNode.Key, Is.EqualTo(new ObjectKey("", "n2")));
        });
    }
}
