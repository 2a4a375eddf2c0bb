using ProxyReplacement.ServiceProxy.Parsing;

namespace ProxyReplacement.ServiceProxy.Tests.Parsing;

public sealed class SharedValuesTests
{
    private const string TwoServices = """
        apiVersion: v1
        kind: Service
        metadata: {name: one, namespace: apps}
        spec: {clusterIP: 10.96.1.1, ports: [{name: http, port: 80, targetPort: 8080}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: two, namespace: apps}
        spec: {clusterIP: 10.96.1.2, ports: [{name: http, port: 80, targetPort: 8080}]}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: one-a, namespace: apps, labels: {kubernetes.io/service-name: one}}
        addressType: IPv4
        endpoints:
        - {addresses: [10.244.0.1], nodeName: node-a, zone: z1, conditions: {ready: true}}
        - {addresses: [10.244.0.2], nodeName: node-a, zone: z1, conditions: {ready: true}}
        ports: [{name: http, port: 8080}]
        """;

    [Test]
    public void Values_that_repeat_across_objects_are_held_once()
    {
        var set = ManifestReader.Parse(TwoServices, "shared.yaml");
        Assert.That(set.Diagnostics, Is.Empty);
        var (one, two) = (set.Services[0], set.Services[1]);
        var slice = set.EndpointSlices.Single();
        Assert.Multiple(() =>
        {
            Assert.That(two.Namespace, Is.SameAs(one.Namespace));
            Assert.That(slice.Namespace, Is.SameAs(one.Namespace));
            Assert.That(two.Ports, Is.SameAs(one.Ports), "equal port lists are one list");
            Assert.That(slice.Endpoints[1].NodeName, Is.SameAs(slice.Endpoints[0].NodeName));
            Assert.That(slice.Endpoints[1].Zone, Is.SameAs(slice.Endpoints[0].Zone));
            Assert.That(slice.Endpoints[1].Conditions, Is.SameAs(slice.Endpoints[0].Conditions));
            Assert.That(slice.Ports[0].Name, Is.SameAs(one.Ports[0].Name));
            Assert.That(slice.ServiceName, Is.SameAs(one.Name), "a slice read beside its Service names it with the Service's string");
            Assert.That(slice.ServiceKey, Is.EqualTo(one.Key));
        });
    }

    [Test]
    public void A_full_pool_returns_values_unshared_and_stays_at_its_capacity()
    {
        var pool = new ValuePool<string>(capacity: 2);
        var first = pool.Share(new string('a', 3));
        pool.Share("b");
        var third = new string('c', 3);
        Assert.Multiple(() =>
        {
            Assert.That(pool.Share(new string('a', 3)), Is.SameAs(first), "a pooled value is shared");
            Assert.That(pool.Share(third), Is.SameAs(third), "beyond the capacity a value is returned as it is");
            Assert.That(pool.Share(new string('c', 3)), Is.Not.SameAs(third), "and not pooled");
            Assert.That(pool.Count, Is.EqualTo(2));
        });
    }
}
