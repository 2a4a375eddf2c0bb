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
}
