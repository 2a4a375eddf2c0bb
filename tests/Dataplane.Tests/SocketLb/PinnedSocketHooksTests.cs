using ProxyReplacement.Dataplane.SocketLb;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tests.Support;

namespace ProxyReplacement.Dataplane.Tests.SocketLb;

/// <summary>
/// The daemon's pinned hook links on two test cgroups and a private bpffs: attach, replace in place
/// (same link, new program), move to another cgroup, remove. The kernel's view of each cgroup comes
/// from bpftool, independently of our link info.
/// </summary>
[TestFixture]
[Category("Privileged")]
[NonParallelizable]
public sealed class PinnedSocketHooksTests
{
    private BpffsMount _bpffs = null!;
    private TestCgroup _first = null!;
    private TestCgroup _second = null!;
    private CoreDataplane _core = null!;
    private string _pinRoot = null!;

    [SetUp]
    public void SetUp()
    {
        Privileged.Require();
        var prefix = $"prt-{Random.Shared.Next(0x10000):x4}";
        _bpffs = BpffsMount.Create();
        _pinRoot = Path.Combine(_bpffs.Path, "pr");
        _first = TestCgroup.Create($"{prefix}-cg1");
        _second = TestCgroup.Create($"{prefix}-cg2");
        _core = CoreDataplane.Load(new DataplaneOptions { PinRoot = _pinRoot });
    }

    [TearDown]
    public void TearDown()
    {
        if (_pinRoot is not null && Directory.Exists(_pinRoot))
            PinnedSocketHooks.Remove(_pinRoot);
        _core?.Dispose();
        _bpffs?.Dispose();
        _first?.Dispose();
        _second?.Dispose();
    }

    private static string Bpftool(TestCgroup cgroup) => IpCommand.Execute("bpftool", ["cgroup", "show", cgroup.Path]);

    private IReadOnlyDictionary<SocketHook, CgroupLinkInfo> Pinned() =>
        PinnedSocketHooks.Read(_pinRoot).ToDictionary(h => h.Hook, h => h.Link);

    [Test]
    public void Hooks_are_attached_then_replaced_in_place_then_moved_then_removed()
    {
        Dictionary<SocketHook, uint> ProgramIds(SocketLoadBalancer lb) => lb.Programs.ToDictionary(p => p.Key, p => p.Value.Id);

        using var firstPrograms = SocketLoadBalancer.Load(_core);
        var attached = PinnedSocketHooks.Ensure(_pinRoot, _first.Path, firstPrograms);
        var afterAttach = Pinned();

        using var secondPrograms = SocketLoadBalancer.Load(_core);
        var replaced = PinnedSocketHooks.Ensure(_pinRoot, _first.Path, secondPrograms);
        var afterReplace = Pinned();

        var moved = PinnedSocketHooks.Ensure(_pinRoot, _second.Path, secondPrograms);
        var afterMove = Pinned();
        var firstAfterMove = Bpftool(_first);
        var secondAfterMove = Bpftool(_second);

        var removed = PinnedSocketHooks.Remove(_pinRoot);
        var secondAfterRemove = Bpftool(_second);

        Assert.Multiple(() =>
        {
            Assert.That(attached.Values, Is.All.EqualTo(PinnedHookChange.Attached));
            Assert.That(afterAttach.Keys, Is.EquivalentTo(SocketHooks.All));
            Assert.That(afterAttach.ToDictionary(p => p.Key, p => p.Value.ProgramId), Is.EquivalentTo(ProgramIds(firstPrograms)));
            Assert.That(afterAttach.Values.Select(l => l.CgroupId), Is.All.EqualTo(Cgroup.Id(_first.Path)));

            Assert.That(replaced.Values, Is.All.EqualTo(PinnedHookChange.Replaced));
            Assert.That(afterReplace.ToDictionary(p => p.Key, p => p.Value.LinkId), Is.EquivalentTo(afterAttach.ToDictionary(p => p.Key, p => p.Value.LinkId)),
                "the same links, updated in place");
            Assert.That(afterReplace.ToDictionary(p => p.Key, p => p.Value.ProgramId), Is.EquivalentTo(ProgramIds(secondPrograms)));

            Assert.That(moved.Values, Is.All.EqualTo(PinnedHookChange.Moved));
            Assert.That(afterMove.Values.Select(l => l.CgroupId), Is.All.EqualTo(Cgroup.Id(_second.Path)));
            Assert.That(firstAfterMove, Does.Not.Contain("pr_sk_"), "the old cgroup keeps nothing of ours");
            foreach (var hook in SocketHooks.All)
                Assert.That(secondAfterMove, Does.Contain(SocketHooks.ProgramName(hook)), "program names fit the kernel's 15 characters");

            Assert.That(removed.Count(line => line.StartsWith("detached", StringComparison.Ordinal)), Is.EqualTo(4), string.Join("\n", removed));
            Assert.That(secondAfterRemove, Does.Not.Contain("pr_sk_"));
            Assert.That(Directory.Exists(Path.Combine(_pinRoot, PinnedSocketHooks.DirectoryName)), Is.False);
        });
    }

    [Test]
    public void A_pin_that_is_not_a_link_gets_a_clear_error()
    {
        Directory.CreateDirectory(Path.Combine(_pinRoot, PinnedSocketHooks.DirectoryName));
        // A map pinned where a link belongs (e.g. by a confused tool).
        Assert.That(Interop.LibBpf.bpf_obj_pin(_core.Frontends.Fd, PinnedSocketHooks.PinPath(_pinRoot, SocketHook.Connect4)), Is.Zero);
        using var programs = SocketLoadBalancer.Load(_core);

        var error = Assert.Throws<BpfException>(() => PinnedSocketHooks.Ensure(_pinRoot, _first.Path, programs));

        Assert.That(error!.Message, Does.Contain("is not a BPF link").And.Contain("cleanup"));
        File.Delete(PinnedSocketHooks.PinPath(_pinRoot, SocketHook.Connect4));
    }
}
