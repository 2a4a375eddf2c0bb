using System.Net;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Tests.ModelTests;

/// <summary>The model's compact forms (memory at 100k Services) keep the list semantics the tracker diffs by.</summary>
public sealed class CompactModelTests
{
    private static readonly IPAddress A = IPAddress.Parse("10.244.0.1"), B = IPAddress.Parse("10.244.0.2");

    [Test]
    public void Endpoint_addresses_read_like_the_list_they_were_built_from()
    {
        var none = new AddressList([]);
        var one = new AddressList([A]);
        var two = new AddressList([A, B]);
        Assert.Multiple(() =>
        {
            Assert.That(none.Count, Is.Zero);
            Assert.That(default(AddressList), Is.EqualTo(none), "the default is the empty list");
            Assert.That(one.Count, Is.EqualTo(1));
            Assert.That(one[0], Is.EqualTo(A));
            Assert.That(one[0].AddressFamily, Is.EqualTo(System.Net.Sockets.AddressFamily.InterNetwork));
            Assert.That(one.Single(), Is.EqualTo(A));
            Assert.That(two.ToList(), Is.EqualTo(new[] { A, B }));
            Assert.That(two[1], Is.EqualTo(B));
            Assert.That(() => one[1], Throws.InstanceOf<ArgumentOutOfRangeException>());
            Assert.That(two.ToString(), Is.EqualTo("[10.244.0.1, 10.244.0.2]"), "printed as EquatableList prints");
        });
    }

    [Test]
    public void Endpoint_addresses_compare_by_content_and_order()
    {
        var one = new AddressList([A]);
        var sameOne = new AddressList([IPAddress.Parse("10.244.0.1")]);
        var two = new AddressList([A, B]);
        var swapped = new AddressList([B, A]);
        Assert.Multiple(() =>
        {
            Assert.That(one, Is.EqualTo(sameOne));
            Assert.That(one.GetHashCode(), Is.EqualTo(sameOne.GetHashCode()));
            Assert.That(one == sameOne, Is.True);
            Assert.That(one, Is.Not.EqualTo(two));
            Assert.That(two, Is.Not.EqualTo(swapped), "order matters: the first address is the one balanced to");
            Assert.That(two, Is.EqualTo(new AddressList([A, B])));
            var conditions = EndpointConditions.Of(null, null, null);
            Assert.That(new SliceEndpoint(one, conditions), Is.EqualTo(new SliceEndpoint(EquatableList.From(A), new EndpointConditions())),
                "an endpoint built from a list equals one built compactly");
            Assert.That(new SliceEndpoint(one, conditions), Is.Not.EqualTo(new SliceEndpoint(two, conditions)));
        });
    }

    [Test]
    public void A_single_IPv6_address_and_mixed_families_read_back_as_written()
    {
        var v6 = IPAddress.Parse("fd00::1");
        var v6Scoped = IPAddress.Parse("fe80::1%2");
        Assert.Multiple(() =>
        {
            Assert.That(new AddressList([v6])[0], Is.SameAs(v6));
            Assert.That(new AddressList([v6Scoped])[0].ScopeId, Is.EqualTo(2));
            Assert.That(new AddressList([v6]), Is.Not.EqualTo(new AddressList([A])));
            Assert.That(new AddressList([A, v6]).ToList(), Is.EqualTo(new[] { A, v6 }));
            Assert.That(new AddressList([IPAddress.Parse("0.0.0.0")]), Is.Not.EqualTo(new AddressList([])),
                "the all-zero IPv4 address is an address");
            Assert.That(new AddressList([IPAddress.Parse("0.0.0.0")])[0], Is.EqualTo(IPAddress.Any));
            Assert.That(new AddressList([IPAddress.Parse("255.255.255.254")])[0], Is.EqualTo(IPAddress.Parse("255.255.255.254")));
        });
    }

    [Test]
    public void Endpoint_conditions_are_shared_and_equal_to_new_ones()
    {
        bool?[] values = [null, false, true];
        Assert.Multiple(() =>
        {
            foreach (var ready in values)
                foreach (var serving in values)
                    foreach (var terminating in values)
                    {
                        var shared = EndpointConditions.Of(ready, serving, terminating);
                        Assert.That(shared, Is.EqualTo(new EndpointConditions(ready, serving, terminating)), $"{ready}/{serving}/{terminating}");
                        Assert.That(EndpointConditions.Of(ready, serving, terminating), Is.SameAs(shared), "one instance per combination");
                    }
        });
    }

    [Test]
    public void An_empty_list_is_the_shared_empty_list()
    {
        Assert.That(Array.Empty<IPAddress>().ToEquatableList(), Is.SameAs(EquatableList<IPAddress>.Empty));
        Assert.That(EquatableList.From(A), Is.Not.SameAs(EquatableList<IPAddress>.Empty));
    }

    [Test]
    public void Endpoints_compare_by_every_field_though_their_traits_are_shared()
    {
        var one = new AddressList([A]);
        var ready = EndpointConditions.Of(true, null, null);
        var hints = new EndpointHints(EquatableList.From<string>(["z1"]), EquatableList<string>.Empty);
        var endpoint = new SliceEndpoint(one, ready, "node-a", "z1", hints);
        Assert.Multiple(() =>
        {
            Assert.That(endpoint.Addresses, Is.EqualTo(one));
            Assert.That(endpoint.Conditions, Is.SameAs(ready));
            Assert.That(endpoint.NodeName, Is.EqualTo("node-a"));
            Assert.That(endpoint.Zone, Is.EqualTo("z1"));
            Assert.That(endpoint.Hints, Is.EqualTo(hints));
            var same = new SliceEndpoint(new AddressList([IPAddress.Parse("10.244.0.1")]), EndpointConditions.Of(true, null, null), new string("node-a"),
                "z1", new EndpointHints(EquatableList.From<string>(["z1"]), EquatableList<string>.Empty));
            Assert.That(same, Is.EqualTo(endpoint));
            Assert.That(same.GetHashCode(), Is.EqualTo(endpoint.GetHashCode()));
            Assert.That(same.NodeName, Is.SameAs(endpoint.NodeName), "equal traits are one shared instance");
            Assert.That(new SliceEndpoint(one, ready, "node-b", "z1", hints), Is.Not.EqualTo(endpoint), "node");
            Assert.That(new SliceEndpoint(one, ready, "node-a", "z2", hints), Is.Not.EqualTo(endpoint), "zone");
            Assert.That(new SliceEndpoint(one, ready, "node-a", "z1"), Is.Not.EqualTo(endpoint), "hints");
            Assert.That(new SliceEndpoint(one, EndpointConditions.Of(false, null, null), "node-a", "z1", hints), Is.Not.EqualTo(endpoint), "conditions");
            Assert.That(new SliceEndpoint(new AddressList([B]), ready, "node-a", "z1", hints), Is.Not.EqualTo(endpoint), "address");
            Assert.That(default(SliceEndpoint).Conditions.IsReady, Is.True, "the default endpoint reads as one with no conditions written");
            Assert.That(default(SliceEndpoint).NodeName, Is.Null);
        });
    }

    [Test]
    public void Services_compare_by_every_field_though_their_defaults_are_shared()
    {
        var service = Support.Objects.Service("web", "10.96.0.1");
        var same = Support.Objects.Service("web", "10.96.0.1");
        Assert.Multiple(() =>
        {
            Assert.That(same, Is.EqualTo(service));
            Assert.That(same.GetHashCode(), Is.EqualTo(service.GetHashCode()));
            Assert.That(service.SessionAffinityTimeoutSeconds, Is.EqualTo(Service.DefaultSessionAffinityTimeoutSeconds));
            Assert.That(service.ExternalIPs, Is.SameAs(EquatableList<IPAddress>.Empty));
            Assert.That(service.HealthCheckNodePort, Is.Null);

            var external = service with { ExternalIPs = EquatableList.From(A) };
            Assert.That(external.ExternalIPs, Is.EqualTo(new[] { A }));
            Assert.That(external, Is.Not.EqualTo(service));
            Assert.That(external with { ExternalIPs = EquatableList<IPAddress>.Empty }, Is.EqualTo(service), "back to the defaults");
            Assert.That(service with { ExternalTrafficPolicy = TrafficPolicy.Local }, Is.Not.EqualTo(service));
            Assert.That(service with { HealthCheckNodePort = 31000 }, Is.Not.EqualTo(service));
            Assert.That((service with { HealthCheckNodePort = 31000 }).HealthCheckNodePort, Is.EqualTo(31000));
            Assert.That(service with { TrafficDistribution = "PreferClose" }, Is.Not.EqualTo(service));
            Assert.That(service with { ExternalServiceMode = "dsr" }, Is.Not.EqualTo(service));
            Assert.That(service with { SessionAffinity = SessionAffinity.ClientIP }, Is.Not.EqualTo(service));
            Assert.That(service with { Type = ServiceType.NodePort }, Is.Not.EqualTo(service));
            Assert.That((service with { Type = ServiceType.NodePort }).ExternalIPs, Is.SameAs(service.ExternalIPs), "the other fields are kept");
            var full = new Service("apps", "lb", Labels.Empty, ServiceType.LoadBalancer, new AddressList([A]), EquatableList<ServicePort>.Empty,
                SessionAffinity.ClientIP, 60, TrafficPolicy.Local, TrafficPolicy.Local, EquatableList.From(B),
                EquatableList.From(new LoadBalancerIngress(B)), EquatableList.From(IPNetwork.Parse("10.0.0.0/8")), 30100, "PreferClose", "tunnel");
            Assert.That((full.SessionAffinity, full.SessionAffinityTimeoutSeconds, full.InternalTrafficPolicy, full.ExternalTrafficPolicy),
                Is.EqualTo((SessionAffinity.ClientIP, 60, TrafficPolicy.Local, TrafficPolicy.Local)));
            Assert.That((full.HealthCheckNodePort, full.TrafficDistribution, full.ExternalServiceMode), Is.EqualTo(((int?)30100, "PreferClose", "tunnel")));
            Assert.That(full.LoadBalancerIngress.Single().Ip, Is.EqualTo(B));
            Assert.That(full.LoadBalancerSourceRanges.Single(), Is.EqualTo(IPNetwork.Parse("10.0.0.0/8")));
        });
    }

    [Test]
    public void A_trigger_time_keeps_its_instant()
    {
        var written = new DateTimeOffset(2026, 12, 6, 20, 0, 0, TimeSpan.FromHours(2));
        Assert.Multiple(() =>
        {
            Assert.That(new ChangeTriggerTime(written).Value, Is.EqualTo(written), "the same instant");
            Assert.That(new ChangeTriggerTime(written).Value!.Value.UtcDateTime, Is.EqualTo(written.UtcDateTime));
            Assert.That(new ChangeTriggerTime(null).Value, Is.Null);
            Assert.That(default(ChangeTriggerTime).Value, Is.Null);
        });
    }
}
