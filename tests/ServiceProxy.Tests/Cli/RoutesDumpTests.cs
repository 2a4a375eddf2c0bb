using System.Net;
using System.Text;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Cli;

namespace ProxyReplacement.ServiceProxy.Tests.Cli;

/// <summary>The ROUTES section of `dump`: pr_routes4 sorted by prefix (numerically), owner, kind and node address.</summary>
public sealed class RoutesDumpTests
{
    private static InMemoryBpfMap<RouteKey4, RouteValue> Map(params (string Prefix, RouteFlags Flags, string? Node)[] entries)
    {
        var map = new InMemoryBpfMap<RouteKey4, RouteValue>("pr_routes4", 16);
        foreach (var (prefix, flags, node) in entries)
            map.Update(new RouteKey4(IPNetwork.Parse(prefix)), new RouteValue(flags, node is null ? null : IPAddress.Parse(node)));
        return map;
    }

    [Test]
    public void Text_lists_every_entry_sorted_by_address_then_prefix_length()
    {
        var map = Map(
            ("192.168.1.11/32", RouteFlags.Remote | RouteFlags.Node, "192.168.1.11"),
            ("10.244.10.0/24", RouteFlags.Remote, "192.168.1.11"),
            ("10.244.2.0/24", RouteFlags.Local, null),
            ("10.244.0.0/16", RouteFlags.Remote, "192.168.1.9"));
        var text = new StringBuilder();

        RoutesDump.AppendText(text, RoutesDump.Read(map));

        Assert.That(text.ToString(), Is.EqualTo("""

            ROUTES (4; an address without an entry is local: the kernel routes it)
              PREFIX             OWNER  KIND         NODE ADDRESS
              10.244.0.0/16      remote pod CIDR     192.168.1.9
              10.244.2.0/24      local  pod CIDR     -
              10.244.10.0/24     remote pod CIDR     192.168.1.11
              192.168.1.11/32    remote node address 192.168.1.11

            """.ReplaceLineEndings("\n")));
    }

    [Test]
    public void Rows_carry_what_json_prints()
    {
        var row = RoutesDump.Read(Map(("192.168.1.10/32", RouteFlags.Local | RouteFlags.Node, "192.168.1.10"))).Single();

        Assert.That(row, Is.EqualTo(new RoutesDump.Row("192.168.1.10/32", "local", "192.168.1.10", true, 5)));
    }

    [Test]
    public void An_empty_map_is_one_line()
    {
        var text = new StringBuilder();
        RoutesDump.AppendText(text, RoutesDump.Read(Map()));
        Assert.That(text.ToString(), Is.EqualTo("\nROUTES (0; an address without an entry is local: the kernel routes it)\n"));
    }
}
