using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Tests.Support;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Tests.Support;
using ProxyReplacement.ServiceProxy.Tracking;
using static ProxyReplacement.ServiceProxy.Tests.Support.Objects;

namespace ProxyReplacement.ServiceProxy.Tests.Sync;

/// <summary>
/// The Syncer on the real <c>pr_nat_direct4</c> (an ARRAY) of a core dataplane loaded on a private bpffs: batched slot
/// writes and batched reads of every slot, the slots the model calls for, and a restarted Syncer that adopts the pinned
/// table without a write.
/// </summary>
[Category("Privileged")]
public sealed class DirectTableKernelTests
{
    private static readonly CoreMapSizes Small = new(Frontends: 64, Backends: 128, Affinity: 32, Conntrack: 128, SocketReverse: 32, LbSourceRanges: 16,
        Routes: 16, DirectSlots: 64);

    private BpffsMount? _bpffs;

    private string PinRoot => Path.Combine(_bpffs!.Path, "pr");

    [SetUp]
    public void MountBpffs()
    {
        Privileged.Require();
        _bpffs = BpffsMount.Create();
    }

    [TearDown]
    public void Unmount() => _bpffs?.Dispose();

    private CoreDataplane Load() => CoreDataplane.Load(new DataplaneOptions { PinRoot = PinRoot, Sizes = Small });

    // 40 ClusterIPs on 64 slots, one with two ports (80 holds the slot), one with affinity (none).
    private static ServiceSnapshot Cluster()
    {
        var services = Enumerable.Range(1, 40).Select(i => Service($"s{i}", $"10.96.0.{i}", affinity: i == 7 ? SessionAffinity.ClientIP : SessionAffinity.None)).ToList();
        services[2] = services[2] with
        {
            Ports = EquatableList.From(new ServicePort("a", Protocol.Tcp, 80, TargetPort.FromNumber(8080)), new ServicePort("b", Protocol.Tcp, 81, TargetPort.FromNumber(8080))),
        };
        var slices = Enumerable.Range(1, 40).Select(i => Slice($"s{i}-1", $"s{i}", $"10.244.0.{i}", $"10.244.1.{i}")).ToList();
        return ServiceSnapshot.Create(services, slices);
    }

    [Test]
    public void The_table_holds_the_models_slots_and_a_restarted_syncer_adopts_it_without_a_write()
    {
        Dictionary<uint, NatDirectEntry4> held;
        using (var dataplane = Load())
        {
            var syncer = new Syncer(dataplane.Frontends, dataplane.Backends, direct: dataplane.Direct);
            Assert.That(syncer.Sync(Cluster()).Problems, Is.Empty);

            held = dataplane.Direct.ReadAll().Where(e => !e.Value.Equals(default(NatDirectEntry4))).ToDictionary(e => e.Key, e => e.Value);
            var expected = DirectSlotsModel.Expected(dataplane.Frontends.ReadAll(), dataplane.Backends.ReadAll().ToDictionary(e => e.Key, e => e.Value), 63);
            Assert.Multiple(() =>
            {
                Assert.That(held, Is.EquivalentTo(expected));
                Assert.That(held.Keys, Is.EquivalentTo(Enumerable.Range(1, 40).Where(i => i != 7).Select(i => (uint)i)));
                Assert.That(held[3].Frontend.Port, Is.EqualTo(80));
                Assert.That(held.Values.All(entry => entry.IsSealed && entry.BackendCount == 2), Is.True);
            });
        }

        using var restarted = Load();
        var again = new Syncer(restarted.Frontends, restarted.Backends, direct: restarted.Direct);
        var result = again.Sync(Cluster());
        Assert.Multiple(() =>
        {
            Assert.That(result.Applied, Is.Empty, "the NAT maps as they were");
            Assert.That(again.Direct!.Writes, Is.Zero, "the slots as they were");
            Assert.That(again.Direct.Used, Is.EqualTo(held.Count));
            Assert.That(again.StartDriftCheck()!.Run().Drifted, Is.False);
        });
    }
}
