using System.Net;
using System.Text;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Cli;

namespace ProxyReplacement.ServiceProxy.Tests.Cli;

/// <summary>The FAST PATH section of `dump` and its per-frontend slot: only what the programs would use counts.</summary>
public sealed class FastPathDumpTests
{
    private static NatFrontendKey4 Fe(string vip, ushort port = 80) => new(IPAddress.Parse(vip), port, L4Protocol.Tcp);

    private static NatDirectEntry4 Entry(string vip, ushort port = 80) => new(Fe(vip, port), 1, [new NatBackendValue4(IPAddress.Parse("10.244.0.1"), 8080)]);

    /// <summary>The entry with one backend byte changed after sealing, as a reader racing a rewrite could see it.</summary>
    private static NatDirectEntry4 Torn(NatDirectEntry4 entry)
    {
        var copy = new[] { entry };
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(copy.AsSpan())[20] ^= 1;
        return copy[0];
    }

    private static DataplaneConfig WithMask(uint mask) => DataplaneConfig.Default.WithDirectMask(mask);

    [Test]
    public void Counts_the_slots_the_programs_would_use_and_names_their_frontends()
    {
        var map = InMemoryBpfMap<uint, NatDirectEntry4>.Array("pr_nat_direct4", 8);
        map.Update(1, Entry("10.96.0.1"));
        map.Update(2, Entry("10.96.0.2", 443));
        map.Update(3, Entry("10.96.0.5")); // 10.96.0.5 belongs in slot 5: the programs never look here for it
        map.Update(4, Torn(Entry("10.96.0.4"))); // a half-written entry: its check fails
        map.Update(6, default);

        var summary = FastPathDump.Read(map, WithMask(7))!;
        var text = new StringBuilder();
        FastPathDump.AppendText(text, summary);

        Assert.Multiple(() =>
        {
            Assert.That((summary.Slots, summary.Used, summary.Unusable), Is.EqualTo((8, 2, 2)));
            Assert.That(summary.SlotOf(Fe("10.96.0.1")), Is.EqualTo(1u));
            Assert.That(summary.SlotOf(Fe("10.96.0.2", 443)), Is.EqualTo(2u));
            Assert.That(summary.SlotOf(Fe("10.96.0.2", 80)), Is.Null, "another port of the VIP: the hash path");
            Assert.That(summary.SlotOf(Fe("10.96.0.5")), Is.Null, "in the wrong slot");
            Assert.That(text.ToString(), Is.EqualTo(
                "\nFAST PATH (pr_nat_direct4: a ClusterIP frontend and its backends in one slot; the others take the hash lookups)\n" +
                "  2 of 8 slots used, 2 holding what the programs refuse\n"));
        });
    }

    [Test]
    public void Says_when_the_table_is_off_or_absent()
    {
        var off = FastPathDump.Read(InMemoryBpfMap<uint, NatDirectEntry4>.Array("pr_nat_direct4", 1), WithMask(0));
        var text = new StringBuilder();
        FastPathDump.AppendText(text, off);
        FastPathDump.AppendText(text, FastPathDump.Read(null, null));

        Assert.That(text.ToString(), Does.Contain("  off (--direct-table-size 0)\n").And.Contain("  no table pinned (pins of a daemon from before ABI 5)\n"));
    }
}
