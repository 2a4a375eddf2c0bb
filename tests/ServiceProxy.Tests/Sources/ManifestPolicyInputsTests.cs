using Microsoft.Extensions.Logging.Abstractions;
using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sources;
using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.ServiceProxy.Tests.Sources;

/// <summary>The manifest directory as the policy module's source: Pods, Namespaces, NetworkPolicies and the rejected policies.</summary>
public sealed class ManifestPolicyInputsTests
{
    private string _directory = null!;
    private ProxyMetrics _metrics = null!;
    private DateTime _nextWriteTime;

    [SetUp]
    public void CreateDirectory()
    {
        _directory = Path.Combine(Path.GetTempPath(), "prt-policy-manifests-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_directory);
        _metrics = new ProxyMetrics();
        _nextWriteTime = DateTime.UtcNow.AddHours(-1);
    }

    [TearDown]
    public void DeleteDirectory()
    {
        _metrics.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private void Write(string name, string text)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        _nextWriteTime = _nextWriteTime.AddSeconds(1);
        File.SetLastWriteTimeUtc(path, _nextWriteTime);
    }

    private const string Objects = """
        {apiVersion: v1, kind: Namespace, metadata: {name: shop, labels: {team: a}}}
        ---
        {apiVersion: v1, kind: Pod, metadata: {name: web, namespace: shop, labels: {app: web}}, spec: {nodeName: node-a}, status: {podIP: 10.244.1.5}}
        ---
        {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: deny, namespace: shop}, spec: {podSelector: {}}}
        ---
        {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: bad, namespace: shop}, spec: {podSelector: {}, ingress: [{ports: [{port: x1, endPort: 9}]}]}}
        """;

    [Test]
    public void The_directory_gives_pods_namespaces_policies_and_the_rejected_ones_and_a_change_raises_the_event()
    {
        using var source = new ManifestDirectorySource(_directory, NullLogger<ManifestDirectorySource>.Instance, _metrics, "node-a", networkPolicy: true);
        var events = 0;
        source.PolicyInputsChanged += () => events++;
        Write("all.yaml", Objects);

        source.ReloadIfChanged(new ChangeTracker(), () => { });

        var inputs = source.PolicyInputs;
        Assert.Multiple(() =>
        {
            Assert.That(inputs.Namespaces.Keys, Is.EqualTo(new[] { "shop" }));
            Assert.That(inputs.Pods.Keys, Is.EqualTo(new[] { new ObjectKey("shop", "web") }));
            Assert.That(inputs.Policies.Keys, Is.EqualTo(new[] { new ObjectKey("shop", "deny") }));
            var problem = inputs.Rejected.Single();
            Assert.That((problem.Policy, problem.Reason, problem.Skipped), Is.EqualTo((new ObjectKey("shop", "bad"), PolicyProblemReason.NamedEndPort, true)));
            Assert.That(events, Is.EqualTo(1));
        });

        Write("all.yaml", Objects.Replace("app: web", "app: shop-web"));
        source.ReloadIfChanged(new ChangeTracker(), () => { });
        Assert.Multiple(() =>
        {
            Assert.That(events, Is.EqualTo(2));
            Assert.That(source.PolicyInputs.Pods[new ObjectKey("shop", "web")].Labels["app"], Is.EqualTo("shop-web"));
        });

        Write("other.yaml", "{apiVersion: v1, kind: Service, metadata: {name: s, namespace: shop}, spec: {clusterIP: 10.96.0.9, ports: [{port: 80}]}}");
        source.ReloadIfChanged(new ChangeTracker(), () => { });
        Assert.That(events, Is.EqualTo(2), "a Service change leaves the policy inputs as they were");
    }

    [Test]
    public void With_network_policy_off_the_inputs_stay_empty()
    {
        using var source = new ManifestDirectorySource(_directory, NullLogger<ManifestDirectorySource>.Instance, _metrics, "node-a", networkPolicy: false);
        Write("all.yaml", Objects);

        source.ReloadIfChanged(new ChangeTracker(), () => { });

        Assert.That(source.PolicyInputs, Is.SameAs(PolicyInputs.Empty));
    }
}
