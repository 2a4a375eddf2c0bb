using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.Tc;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.Dataplane.Tests.Support;
using TcApi = ProxyReplacement.Dataplane.Tc.Tc;

namespace ProxyReplacement.Dataplane.Tests.Tc;

/// <summary>Attach, query, replace and detach on a veth in a scratch namespace, with the core programs.</summary>
[TestFixture]
[Category("Privileged")]
public sealed class TcAttachTests
{
    private CoreDataplane _dataplane = null!;
    private VethNamespace _scratch = null!;
    private int _ifindex;

    [OneTimeSetUp]
    public void LoadPrograms()
    {
        Privileged.Require();
        _dataplane = CoreDataplane.Load(new DataplaneOptions());
        Assert.That(_dataplane.FromWorkload.Id, Is.Not.EqualTo(_dataplane.PassThrough.Id), "the tests need two distinct programs");
    }

    [OneTimeTearDown]
    public void UnloadPrograms() => _dataplane?.Dispose();

    [SetUp]
    public void CreateVeth()
    {
        Privileged.Require();
        _scratch = VethNamespace.Create();
        _ifindex = InScratch(() => NetworkNamespace.InterfaceIndex(VethNamespace.Interface));
    }

    [TearDown]
    public void DeleteVeth() => _scratch?.Dispose();

    // Assertions run on the test thread: the namespace thread only gathers what the kernel says.

    [Test]
    public void Attach_reports_the_program_and_query_finds_it_only_where_attached()
    {
        var (attachment, ingress, egress, otherPriority) = InScratch(() =>
        {
            var attached = TcApi.Attach(_ifindex, TcDirection.Ingress, _dataplane.FromWorkload);
            return (attached,
                TcApi.QueryProgramId(_ifindex, TcDirection.Ingress),
                TcApi.QueryProgramId(_ifindex, TcDirection.Egress),
                TcApi.QueryProgramId(_ifindex, TcDirection.Ingress, priority: 2));
        });
        using var _ = attachment;

        Assert.Multiple(() =>
        {
            Assert.That(attachment.ProgramId, Is.EqualTo(_dataplane.FromWorkload.Id));
            Assert.That(attachment.IfIndex, Is.EqualTo(_ifindex));
            Assert.That(attachment.Direction, Is.EqualTo(TcDirection.Ingress));
            Assert.That((attachment.Priority, attachment.Handle), Is.EqualTo((1u, 1u)));
            Assert.That(ingress, Is.EqualTo(_dataplane.FromWorkload.Id));
            Assert.That(egress, Is.Null);
            Assert.That(otherPriority, Is.Null);
            Assert.That(FilterCount(TcDirection.Ingress), Is.EqualTo(1));
        });
    }

    [Test]
    public void Query_on_an_interface_without_clsact_finds_nothing()
    {
        Assert.That(InScratch(() => TcApi.QueryProgramId(_ifindex, TcDirection.Ingress)), Is.Null);
    }

    [Test]
    public void Attach_at_an_occupied_slot_replaces_the_program_in_place()
    {
        var (first, second) = InScratch(() => (
            TcApi.Attach(_ifindex, TcDirection.Ingress, _dataplane.FromWorkload),
            TcApi.Attach(_ifindex, TcDirection.Ingress, _dataplane.PassThrough)));
        Assert.Multiple(() =>
        {
            Assert.That(first.ProgramId, Is.EqualTo(_dataplane.FromWorkload.Id));
            Assert.That(second.ProgramId, Is.EqualTo(_dataplane.PassThrough.Id));
            Assert.That(QueryIngress(), Is.EqualTo(_dataplane.PassThrough.Id));
            Assert.That(FilterCount(TcDirection.Ingress), Is.EqualTo(1), "replaced, not added beside");
        });

        // The stale handle must not take the replacement down with it.
        first.Dispose();
        Assert.That(QueryIngress(), Is.EqualTo(_dataplane.PassThrough.Id));

        second.Dispose();
        Assert.That(QueryIngress(), Is.Null);
    }

    [Test]
    public void Different_priorities_and_directions_are_separate_slots()
    {
        var attachments = InScratch(() => new[]
        {
            TcApi.Attach(_ifindex, TcDirection.Ingress, _dataplane.FromWorkload, priority: 1),
            TcApi.Attach(_ifindex, TcDirection.Ingress, _dataplane.PassThrough, priority: 2),
            TcApi.Attach(_ifindex, TcDirection.Egress, _dataplane.PassThrough, priority: 1, handle: 7),
        });
        try
        {
            var found = InScratch(() => new[]
            {
                TcApi.QueryProgramId(_ifindex, TcDirection.Ingress, priority: 1),
                TcApi.QueryProgramId(_ifindex, TcDirection.Ingress, priority: 2),
                TcApi.QueryProgramId(_ifindex, TcDirection.Egress, priority: 1, handle: 7),
                TcApi.QueryProgramId(_ifindex, TcDirection.Egress, priority: 1, handle: 1),
            });

            Assert.Multiple(() =>
            {
                Assert.That(found, Is.EqualTo(new uint?[] { _dataplane.FromWorkload.Id, _dataplane.PassThrough.Id, _dataplane.PassThrough.Id, null }));
                Assert.That(FilterCount(TcDirection.Ingress), Is.EqualTo(2));
                Assert.That(FilterCount(TcDirection.Egress), Is.EqualTo(1));
            });
        }
        finally
        {
            foreach (var attachment in attachments)
                attachment.Dispose();
        }
        Assert.That(FilterCount(TcDirection.Ingress) + FilterCount(TcDirection.Egress), Is.Zero);
    }

    [Test]
    public void Detach_removes_the_filter_and_a_second_detach_fails_with_ENOENT()
    {
        // Disposed at the end only to release its handle: by then there is nothing left to detach.
        using var attachment = InScratch(() => TcApi.Attach(_ifindex, TcDirection.Egress, _dataplane.FromWorkload));

        InScratch(() => TcApi.Detach(_ifindex, TcDirection.Egress));

        Assert.That(InScratch(() => TcApi.QueryProgramId(_ifindex, TcDirection.Egress)), Is.Null);
        var again = InScratch(() => Catch<BpfException>(() => TcApi.Detach(_ifindex, TcDirection.Egress)));
        Assert.That(again, Is.Not.Null, "detaching nothing must fail");
        Assert.Multiple(() =>
        {
            Assert.That(again!.Errno, Is.EqualTo(Errno.ENOENT));
            Assert.That(again.Message, Does.Contain($"ifindex {_ifindex} ({VethNamespace.Interface})").And.Contain("egress"));
        });
    }

    [Test]
    public void An_attachment_disposed_from_another_namespace_detaches_in_its_own()
    {
        var attachment = InScratch(() => TcApi.Attach(_ifindex, TcDirection.Ingress, _dataplane.FromWorkload));
        Assert.That(InScratch(() => TcApi.QueryProgramId(_ifindex, TcDirection.Ingress)), Is.EqualTo(_dataplane.FromWorkload.Id));

        attachment.Dispose(); // on the test thread, which is in the host namespace
        attachment.Dispose(); // idempotent

        Assert.That(InScratch(() => TcApi.QueryProgramId(_ifindex, TcDirection.Ingress)), Is.Null);
    }

    [Test]
    public void An_attachment_outlived_by_its_namespace_disposes_quietly()
    {
        var attachment = InScratch(() => TcApi.Attach(_ifindex, TcDirection.Ingress, _dataplane.FromWorkload));
        _scratch.Dispose();

        Assert.That(attachment.Dispose, Throws.Nothing);
    }

    [Test]
    public void Attach_to_a_missing_interface_fails_with_the_interface_in_the_message()
    {
        const int missing = 999_999;
        var thrown = InScratch(() => Catch<BpfException>(() =>
            TcApi.Attach(missing, TcDirection.Ingress, _dataplane.FromWorkload)));

        Assert.That(thrown, Is.Not.Null, "attaching to a missing interface must fail");
        Assert.Multiple(() =>
        {
            Assert.That(thrown!.Errno, Is.Not.Zero);
            Assert.That(thrown.Message, Does.Contain($"ifindex {missing}").And.Contain("ingress"));
        });
    }

    [Test]
    public void Bad_arguments_are_rejected_before_the_kernel_sees_them()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => TcApi.QueryProgramId(0, TcDirection.Ingress), Throws.InstanceOf<ArgumentOutOfRangeException>());
            Assert.That(() => TcApi.QueryProgramId(_ifindex, TcDirection.Ingress, priority: 0), Throws.InstanceOf<ArgumentOutOfRangeException>());
            Assert.That(() => TcApi.QueryProgramId(_ifindex, TcDirection.Ingress, priority: 70_000), Throws.InstanceOf<ArgumentOutOfRangeException>());
            Assert.That(() => TcApi.QueryProgramId(_ifindex, TcDirection.Ingress, handle: 0), Throws.InstanceOf<ArgumentOutOfRangeException>());
        });
    }

    private T InScratch<T>(Func<T> action) => NetworkNamespace.Run(_scratch.Name, action);

    private void InScratch(Action action) => NetworkNamespace.Run(_scratch.Name, action);

    private uint? QueryIngress() => InScratch(() => TcApi.QueryProgramId(_ifindex, TcDirection.Ingress));

    private static TException? Catch<TException>(Action action) where TException : Exception
    {
        try
        {
            action();
            return null;
        }
        catch (TException e)
        {
            return e;
        }
    }

    /// <summary>Independent of libbpf: the bpf filters `tc` lists on the scratch veth.</summary>
    private int FilterCount(TcDirection direction) => TcFilters.BpfCount(_scratch.Name, VethNamespace.Interface, direction == TcDirection.Ingress);
}
