using System.Net;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Parsing;

namespace ProxyReplacement.ServiceProxy.Tests.Parsing;

public sealed class ManifestReaderTests
{
    private const string GoodService = """
        apiVersion: v1
        kind: Service
        metadata: {name: good, namespace: apps, labels: {app: good}}
        spec:
          clusterIP: 10.96.1.1
          ports: [{name: http, port: 80, targetPort: http-alt}]
        """;

    private static string ServiceWith(string name, string portsYaml, string extraSpec = "") => $$"""
        apiVersion: v1
        kind: Service
        metadata: {name: {{name}}}
        spec:
          clusterIP: 10.96.1.2
          {{extraSpec}}
          ports: {{portsYaml}}
        """;

    [Test]
    public void Reads_a_service_with_defaults()
    {
        var set = ManifestReader.Parse(ServiceWith("plain", "[{port: 53, protocol: UDP}]"), "a.yaml");

        Assert.That(set.Diagnostics, Is.Empty);
        var service = set.Services.Single();
        Assert.Multiple(() =>
        {
            Assert.That(service.Key, Is.EqualTo(new ObjectKey("default", "plain")));
            Assert.That(service.Type, Is.EqualTo(ServiceType.ClusterIP));
            Assert.That(service.ClusterIPs, Is.EqualTo(new[] { IPAddress.Parse("10.96.1.2") }));
            Assert.That(service.Ports.Single(), Is.EqualTo(new ServicePort("", Protocol.Udp, 53, TargetPort.FromNumber(53))));
            Assert.That(service.SessionAffinity, Is.EqualTo(SessionAffinity.None));
            Assert.That(service.SessionAffinityTimeoutSeconds, Is.EqualTo(10800));
            Assert.That(service.InternalTrafficPolicy, Is.EqualTo(TrafficPolicy.Cluster));
        });
    }

    [Test]
    public void A_named_target_port_and_labels_are_kept()
    {
        var service = ManifestReader.Parse(GoodService, "a.yaml").Services.Single();

        Assert.That(service.Ports.Single().TargetPort, Is.EqualTo(TargetPort.FromName("http-alt")));
        Assert.That(service.Labels["app"], Is.EqualTo("good"));
    }

    [TestCase("[{port: 70000}]", "spec.ports[0].port: 70000 is out of range 1-65535")]
    [TestCase("[{port: 0}]", "spec.ports[0].port: 0 is out of range 1-65535")]
    [TestCase("[{port: 80, protocol: ICMP}]", "spec.ports[0].protocol: unknown protocol 'ICMP'")]
    [TestCase("[{port: 80, targetPort: 99999}]", "spec.ports[0].targetPort: 99999 is out of range")]
    [TestCase("[{port: 80, targetPort: Not_A_Name}]", "spec.ports[0].targetPort: 'Not_A_Name' is not a valid port name")]
    [TestCase("[{port: eighty}]", "spec.ports[0].port: expected an integer, got 'eighty'")]
    [TestCase("[{name: a, port: 80}, {port: 81}]", "spec.ports[1].name: required when a Service has more than one port")]
    [TestCase("[{name: a, port: 80}, {name: a, port: 81}]", "spec.ports[1].name: duplicate port name 'a'")]
    public void A_bad_port_is_reported_with_its_field(string ports, string expectedReason)
    {
        var set = ManifestReader.Parse(ServiceWith("bad", ports), "svc.yaml");

        Assert.That(set.Services, Is.Empty);
        var diagnostic = set.Diagnostics.Single();
        Assert.Multiple(() =>
        {
            Assert.That(diagnostic.Reason, Does.StartWith(expectedReason));
            Assert.That(diagnostic.ToString(), Does.StartWith("svc.yaml: document 0 Service default/bad: "));
        });
    }

    [TestCase("clusterIP: 10.96.300.1", "spec.clusterIP", "'10.96.300.1' is not a valid IP address")]
    [TestCase("clusterIP: \"10\"", "spec.clusterIP", "'10' is not a valid IP address")]
    [TestCase("clusterIP: 010.96.0.1", "spec.clusterIP", "'010.96.0.1' is not a valid IP address")]
    [TestCase("sessionAffinity: Sticky", "spec.sessionAffinity", "unknown value 'Sticky'")]
    [TestCase("type: Weird", "spec.type", "unknown type 'Weird'")]
    [TestCase("externalTrafficPolicy: Nearby", "spec.externalTrafficPolicy", "unknown value 'Nearby'")]
    [TestCase("sessionAffinityConfig: {clientIP: {timeoutSeconds: 0}}", "spec.sessionAffinityConfig.clientIP.timeoutSeconds", "0 is out of range 1-86400")]
    public void A_bad_spec_field_is_reported(string specLine, string field, string reason)
    {
        var yaml = $$"""
            apiVersion: v1
            kind: Service
            metadata: {name: bad}
            spec:
              {{specLine}}
              ports: [{port: 80}]
            """;
        if (!specLine.StartsWith("clusterIP"))
            yaml = yaml.Replace("spec:\n", "spec:\n  clusterIP: 10.96.1.3\n");

        var diagnostic = ManifestReader.Parse(yaml, "x.yaml").Diagnostics.Single();

        Assert.That(diagnostic.Reason, Does.StartWith($"{field}: {reason}"));
    }

    [Test]
    public void A_missing_name_is_reported()
    {
        var diagnostic = ManifestReader.Parse("apiVersion: v1\nkind: Service\nmetadata: {namespace: ns}\nspec: {clusterIP: 10.0.0.1}", "x.yaml")
            .Diagnostics.Single();

        Assert.Multiple(() =>
        {
            Assert.That(diagnostic.Reason, Is.EqualTo("metadata.name: a name is required"));
            Assert.That(diagnostic.ObjectName, Is.EqualTo("ns/<unnamed>"));
            Assert.That(diagnostic.Kind, Is.EqualTo("Service"));
        });
    }

    [Test]
    public void A_malformed_object_is_skipped_and_the_rest_of_the_file_loads()
    {
        var text = string.Join("\n---\n",
            ServiceWith("first", "[{port: 80}]"),
            ServiceWith("broken", "[{port: 80, protocol: TCPX}]"),
            GoodService,
            """
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata: {name: good-1, namespace: apps, labels: {kubernetes.io/service-name: good}}
            addressType: IPv4
            endpoints: [{addresses: ["10.244.0.300"]}]
            """,
            """
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata: {name: good-2, namespace: apps, labels: {kubernetes.io/service-name: good}}
            addressType: IPv4
            ports: [{name: http, port: 8080}]
            endpoints: [{addresses: ["10.244.0.3"], conditions: {ready: false}, nodeName: n1, zone: z1}]
            """);

        var set = ManifestReader.Parse(text, "/m/all.yaml");

        Assert.Multiple(() =>
        {
            Assert.That(set.Services.Select(s => s.Name), Is.EqualTo(new[] { "first", "good" }));
            Assert.That(set.EndpointSlices.Select(s => s.Name), Is.EqualTo(new[] { "good-2" }));
            Assert.That(set.Diagnostics.Select(d => d.ToString()), Is.EqualTo(new[]
            {
                "/m/all.yaml: document 1 Service default/broken: spec.ports[0].protocol: unknown protocol 'TCPX' (expected TCP, UDP or SCTP)",
                "/m/all.yaml: document 3 EndpointSlice apps/good-1: endpoints[0].addresses[0]: '10.244.0.300' is not a valid IP address",
            }));
        });
        var endpoint = set.EndpointSlices.Single().Endpoints.Single();
        Assert.That(endpoint, Is.EqualTo(new SliceEndpoint(
            EquatableList.From(IPAddress.Parse("10.244.0.3")), new EndpointConditions(Ready: false), "n1", "z1")));
    }

    [Test]
    public void Headless_and_external_name_services_and_other_kinds_are_skipped_without_diagnostics()
    {
        var text = """
            apiVersion: v1
            kind: Service
            metadata: {name: headless}
            spec: {clusterIP: None, ports: [{port: 80}]}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: ext}
            spec: {type: ExternalName, externalName: example.com}
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: cfg}
            data: {a: b}
            ---
            """;

        var set = ManifestReader.Parse(text, "x.yaml");

        Assert.Multiple(() =>
        {
            Assert.That(set.Services, Is.Empty);
            Assert.That(set.Diagnostics, Is.Empty);
        });
    }

    [Test]
    public void List_items_are_read_and_a_bad_item_is_located_by_index()
    {
        var text = """
            {"apiVersion": "v1", "kind": "List", "items": [
              {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}, "spec": {"clusterIP": "10.96.0.1", "ports": [{"port": 80, "targetPort": "8080"}]}},
              {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b"}, "spec": {"clusterIP": "10.96.0.2", "ports": [{"port": 80, "targetPort": 8080}]}}
            ]}
            """;

        var set = ManifestReader.Parse(text, "list.json");

        // A quoted "8080" is a port name in Kubernetes' int-or-string, and not a valid one (no letter).
        Assert.That(set.Services.Select(s => s.Name), Is.EqualTo(new[] { "b" }));
        Assert.That(set.Services.Single().Ports.Single().TargetPort, Is.EqualTo(TargetPort.FromNumber(8080)));
        var diagnostic = set.Diagnostics.Single();
        Assert.That(diagnostic.ToString(), Does.StartWith("list.json: document 0 item 0 Service default/a: spec.ports[0].targetPort: '8080' is not a valid port name"));
    }

    [Test]
    public void A_yaml_syntax_error_keeps_the_documents_before_it()
    {
        var text = ServiceWith("before", "[{port: 80}]") + "\n---\nkind: Service\nmetadata: {name: [unclosed\n";

        var set = ManifestReader.Parse(text, "broken.yaml");

        Assert.That(set.Services.Select(s => s.Name), Is.EqualTo(new[] { "before" }));
        var diagnostic = set.Diagnostics.Single();
        Assert.Multiple(() =>
        {
            Assert.That(diagnostic.DocumentIndex, Is.EqualTo(1));
            Assert.That(diagnostic.Reason, Does.StartWith("YAML syntax error at line"));
        });
    }

    [Test]
    public void Input_on_which_the_yaml_parser_itself_fails_is_a_syntax_error_not_a_crash()
    {
        // YamlDotNet's scanner throws InvalidOperationException, not a YamlException, on this one
        var text = ServiceWith("before", "[{port: 80}]") + "\n---\nc: [unclosed\nd: 3\n";

        var set = ManifestReader.Parse(text, "odd.yaml");

        Assert.That(set.Services.Select(s => s.Name), Is.EqualTo(new[] { "before" }));
        var diagnostic = set.Diagnostics.Single();
        Assert.Multiple(() =>
        {
            Assert.That(diagnostic.DocumentIndex, Is.EqualTo(1));
            Assert.That(diagnostic.Reason, Does.StartWith("YAML syntax error at "));
        });
    }

    [Test]
    public void A_duplicate_object_is_reported_and_the_first_wins()
    {
        var text = ServiceWith("dup", "[{port: 80}]") + "\n---\n" + ServiceWith("dup", "[{port: 81}]");

        var set = ManifestReader.Parse(text, "d.yaml");

        Assert.That(set.Services.Single().Ports.Single().Port, Is.EqualTo(80));
        Assert.That(set.Diagnostics.Single().Reason, Is.EqualTo("duplicate Service (first defined at d.yaml document 0); skipped"));
    }

    [TestCase("addressType: IPv5", "addressType: unknown value 'IPv5'")]
    [TestCase("addressType: IPv4\nendpoints: [{addresses: []}]", "endpoints[0].addresses: at least one address is required")]
    [TestCase("addressType: IPv4\nendpoints: [{addresses: [\"fd00::1\"]}]", "endpoints[0].addresses[0]: 'fd00::1' is not an IPv4 address")]
    [TestCase("addressType: IPv4\nendpoints: [{addresses: [\"10.0.0.1\"], conditions: {ready: maybe}}]", "endpoints[0].conditions.ready: expected true or false, got 'maybe'")]
    [TestCase("addressType: IPv4\nports: [{port: 65536}]", "ports[0].port: 65536 is out of range 1-65535")]
    public void A_bad_endpoint_slice_is_reported(string body, string reason)
    {
        var text = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, labels: {kubernetes.io/service-name: web}}\n" + body;

        var set = ManifestReader.Parse(text, "s.yaml");

        Assert.That(set.EndpointSlices, Is.Empty);
        Assert.That(set.Diagnostics.Single().Reason, Does.StartWith(reason));
    }

    [Test]
    public void An_endpoint_slice_without_its_service_label_is_reported()
    {
        var text = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s}\naddressType: IPv4\n";

        var reason = ManifestReader.Parse(text, "s.yaml").Diagnostics.Single().Reason;

        Assert.That(reason, Is.EqualTo("metadata.labels: no 'kubernetes.io/service-name' label naming the Service"));
    }

    [Test]
    public void Endpoint_conditions_follow_kubernetes_nil_semantics()
    {
        var absent = new EndpointConditions();
        var terminating = new EndpointConditions(Ready: false, Serving: true, Terminating: true);

        Assert.Multiple(() =>
        {
            Assert.That((absent.IsReady, absent.IsServing, absent.IsTerminating), Is.EqualTo((true, true, false)));
            Assert.That((terminating.IsReady, terminating.IsServing, terminating.IsTerminating), Is.EqualTo((false, true, true)));
        });
    }

    [Test]
    public void A_directory_is_read_in_name_order_skipping_other_files()
    {
        var directory = Directory.CreateTempSubdirectory("pr-manifests-");
        try
        {
            File.WriteAllText(Path.Combine(directory.FullName, "b.yaml"), ServiceWith("from-b", "[{port: 80}]"));
            File.WriteAllText(Path.Combine(directory.FullName, "a.json"),
                """{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "from-a"}, "spec": {"clusterIP": "10.96.0.9", "ports": [{"port": 1}]}}""");
            File.WriteAllText(Path.Combine(directory.FullName, "notes.txt"), "kind: Service\nthis is not a manifest: [");
            // A writer's temporary file before its rename: read, it would duplicate from-b.
            File.WriteAllText(Path.Combine(directory.FullName, ".b.yaml.tmp.yaml"), ServiceWith("from-b", "[{port: 80}]"));

            var set = ManifestReader.LoadDirectory(directory.FullName);

            Assert.That(set.Services.Select(s => s.Name), Is.EqualTo(new[] { "from-a", "from-b" }));
            Assert.That(set.Diagnostics, Is.Empty);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [TestCase("web.yaml", true)]
    [TestCase("web.yml", true)]
    [TestCase("web.json", true)]
    [TestCase("web.txt", false)]
    [TestCase("web.yaml.swp", false)]
    [TestCase(".web.yaml", false)]
    [TestCase(".tmp.json", false)]
    public void Hidden_files_and_other_extensions_are_no_manifests(string name, bool read) =>
        Assert.That(ManifestReader.IsManifestFile(name), Is.EqualTo(read));
}
