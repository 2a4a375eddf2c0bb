using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Tests.Sync;

public sealed class BackendOrdinalsTests
{
    private static NatBackendValue4 B(int lastOctet, ushort port = 80) => new(IPAddress.Parse($"10.0.0.{lastOctet}"), port);

    private static Dictionary<uint, NatBackendValue4> Current(params int[] octets) =>
        octets.Select((octet, ordinal) => (octet, ordinal)).ToDictionary(pair => (uint)pair.ordinal, pair => B(pair.octet));

    [Test]
    public void Unchanged_backends_stay_where_they_are()
    {
        var placed = BackendOrdinals.Assign(Current(3, 1, 2), [B(1), B(2), B(3)]);

        Assert.That(placed, Is.EqualTo(new[] { B(3), B(1), B(2) }));
    }

    [Test]
    public void A_removed_backend_is_replaced_by_the_last_one()
    {
        var placed = BackendOrdinals.Assign(Current(1, 2, 3, 4, 5), [B(1), B(3), B(4), B(5)]);

        Assert.That(placed, Is.EqualTo(new[] { B(1), B(5), B(3), B(4) }));
    }

    [Test]
    public void New_backends_fill_holes_before_growing()
    {
        var placed = BackendOrdinals.Assign(Current(1, 2, 3), [B(1), B(3), B(9), B(7)]);

        Assert.That(placed, Is.EqualTo(new[] { B(1), B(7), B(3), B(9) }));
    }

    [Test]
    public void Only_holes_are_rewritten()
    {
        var current = Current(1, 2, 3, 4, 5, 6);
        var desired = new[] { B(1), B(2), B(4), B(6), B(8) };

        var placed = BackendOrdinals.Assign(current, desired);

        var rewritten = Enumerable.Range(0, placed.Length).Count(ordinal => current[(uint)ordinal] != placed[ordinal]);
        Assert.Multiple(() =>
        {
            Assert.That(placed, Is.EqualTo(new[] { B(1), B(2), B(6), B(4), B(8) }));
            Assert.That(rewritten, Is.EqualTo(2), "only the holes left by .3 (ordinal 2) and .5 (ordinal 4)");
        });
    }

    [Test]
    public void Duplicates_and_strays_in_the_map_are_not_kept()
    {
        var current = new Dictionary<uint, NatBackendValue4> { [0] = B(1), [1] = B(1), [7] = B(2) };

        var placed = BackendOrdinals.Assign(current, [B(1), B(2)]);

        Assert.That(placed, Is.EqualTo(new[] { B(1), B(2) }));
    }
}
