using ProxyReplacement.Dataplane.Interop;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Programs;
using ProxyReplacement.Dataplane.SocketLb;
using ProxyReplacement.Dataplane.Tests.Support;

namespace ProxyReplacement.Dataplane.Tests.Loading;

/// <summary>
/// The probe against what this libbpf and this kernel really print: the test objects bpf-c/test/probe_no_kfunc.bpf.c
/// and probe_no_helper.bpf.c fail here in the two ways an older kernel fails the default objects (a kfunc it does
/// not have, a helper it does not have). And the builds themselves: both load here, with the same maps.
/// </summary>
[TestFixture, Category("Privileged")]
public sealed class VariantProbeKernelTests
{
    private static BpfException LoadFailure(string testObject)
    {
        Privileged.Require();
        LibBpfLog.EnsureInstalled();
        var spec = new BpfObjectSpec(TestObjects.Read(testObject), "probe_test", new Dictionary<string, uint>(), PinRoot: null);
        return Assert.Throws<BpfException>(() => BpfObjectLoader.Load(spec).Dispose())!;
    }

    [Test]
    public void A_kfunc_the_kernel_lacks_fails_the_way_the_probe_reads()
    {
        var error = LoadFailure("probe_no_kfunc.bpf.o");

        Assert.Multiple(() =>
        {
            Assert.That(error.Errno, Is.Not.Zero, error.Message);
            Assert.That(VariantProbe.MissingKfunc(error), Is.EqualTo("pr_probe_absent_kfunc"), error.Message);
            Assert.That(VariantProbe.WhyTcCompat(error), Is.Null, "only bpf_cast_to_kern_ctx missing means the compat build");
        });
    }

    [Test]
    public void A_helper_the_kernel_lacks_fails_the_way_the_probe_reads()
    {
        var error = LoadFailure("probe_no_helper.bpf.o");

        Assert.Multiple(() =>
        {
            Assert.That(error.Errno, Is.EqualTo(Errno.EINVAL), error.Message);
            Assert.That(VariantProbe.RejectedHelper(error)?.Id, Is.EqualTo(99999), error.Message);
            Assert.That(VariantProbe.WhySocketCompat(error), Is.Null, "only bpf_set_retval missing means the compat build");
        });
    }

    /// <summary>This kernel (6.18) has everything the default builds need: the probe keeps them.</summary>
    [Test]
    public void On_this_kernel_the_probe_loads_the_default_builds()
    {
        Privileged.Require();
        Assume.That(Environment.GetEnvironmentVariable(DataplaneVariants.EnvironmentVariable), Is.Null.Or.Empty.Or.EqualTo("auto"),
            "the environment forces a variant");
        using var core = CoreDataplane.Load(new DataplaneOptions { Sizes = new CoreMapSizes(16, 16, 16, 16, 16) });
        using var socketLb = SocketLoadBalancer.Load(core);
        using var terminator = SocketTerminator.Load(core);

        Assert.Multiple(() =>
        {
            Assert.That(core.Variant, Is.EqualTo(new LoadedVariant(DataplaneVariant.Fast, "probed: the kernel loaded the default object")));
            Assert.That(socketLb.Variant.Variant, Is.EqualTo(DataplaneVariant.Fast));
            Assert.That(socketLb.RefusalErrno, Is.EqualTo(Errno.ECONNREFUSED));
            Assert.That(terminator.Variant.Variant, Is.EqualTo(DataplaneVariant.Fast), "this kernel has bpf_sock_destroy (6.5+)");
            Assert.That(terminator.CanDestroy, Is.True);
        });
    }

    /// <summary>
    /// The whole fallback for real, on this kernel made to look like one built without BTF (a private mount
    /// namespace covering /sys/kernel/btf/vmlinux): the default build fails as the probe reads it, the probe
    /// loads the compat build, and the compat build works (it needs no kernel BTF).
    /// </summary>
    [Test]
    public void Without_kernel_btf_the_probe_loads_the_compat_tc_build()
    {
        Privileged.Require();
        Assume.That(Environment.GetEnvironmentVariable(DataplaneVariants.EnvironmentVariable), Is.Null.Or.Empty.Or.EqualTo("auto"),
            "the environment forces a variant");
        var sizes = new CoreMapSizes(16, 16, 16, 16, 16);

        var (fastFailure, probed, verdict) = WithoutKernelBtf.Run(() =>
        {
            var failure = Assert.Throws<BpfException>(() =>
                CoreDataplane.Load(new DataplaneOptions { Sizes = sizes, Variant = DataplaneVariant.Fast }).Dispose());
            using var core = CoreDataplane.Load(new DataplaneOptions { Sizes = sizes });
            var result = ProgramTestRun.Run(core.FromWorkload, ArpFrame());
            return (failure!, core.Variant, result.ReturnValue);
        });

        Assert.Multiple(() =>
        {
            Assert.That(VariantProbe.KernelBtfMissing(fastFailure), Is.True, fastFailure.Message);
            Assert.That(probed.Variant, Is.EqualTo(DataplaneVariant.Compat));
            Assert.That(probed.Reason, Does.StartWith("probed: ").And.Contain("no BTF"));
            Assert.That(verdict, Is.Zero, "the compat program runs: TC_ACT_OK for an ARP frame");
        });
        Assert.That(File.ReadAllBytes("/sys/kernel/btf/vmlinux"), Is.Not.Empty, "the host still sees its BTF");
    }

    /// <summary>
    /// The socket terminator on a kernel without BTF: neither build can load (iterators are tracing programs, typed by
    /// the kernel's BTF), the failure is what the probe reads as "no BTF", and it is thrown: the daemon degrades.
    /// </summary>
    [Test]
    public void Without_kernel_btf_the_socket_terminator_does_not_load_at_all()
    {
        Privileged.Require();
        Assume.That(Environment.GetEnvironmentVariable(DataplaneVariants.EnvironmentVariable), Is.Null.Or.Empty.Or.EqualTo("auto"),
            "the environment forces a variant");
        var sizes = new CoreMapSizes(16, 16, 16, 16, 16);

        var (failure, coreVariant) = WithoutKernelBtf.Run(() =>
        {
            using var core = CoreDataplane.Load(new DataplaneOptions { Sizes = sizes });
            var error = Assert.Throws<BpfException>(() => SocketTerminator.Load(core).Dispose());
            return (error!, core.Variant.Variant);
        });

        Assert.Multiple(() =>
        {
            Assert.That(coreVariant, Is.EqualTo(DataplaneVariant.Compat));
            Assert.That(VariantProbe.KernelBtfMissing(failure), Is.True, failure.ToString());
            Assert.That(VariantProbe.WhySocketDestroyCompat(failure), Is.Null, "no compat fallback without BTF");
        });
    }

    private static byte[] ArpFrame()
    {
        var frame = new byte[60];
        new byte[] { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 2, 0x08, 0x06 }.CopyTo(frame, 0);
        return frame;
    }

    [Test]
    public void The_compat_builds_load_when_asked_for()
    {
        Privileged.Require();
        using var core = CoreDataplane.Load(new DataplaneOptions { Sizes = new CoreMapSizes(16, 16, 16, 16, 16), Variant = DataplaneVariant.Compat });
        using var socketLb = SocketLoadBalancer.Load(core, DataplaneVariant.Compat);
        using var terminator = SocketTerminator.Load(core, DataplaneVariant.Compat);

        Assert.Multiple(() =>
        {
            Assert.That(terminator.Variant.Variant, Is.EqualTo(DataplaneVariant.Compat));
            Assert.That(terminator.CanDestroy, Is.False);
            Assert.That(core.Variant, Is.EqualTo(new LoadedVariant(DataplaneVariant.Compat, "requested by the caller")));
            Assert.That(core.FromWorkload.Name, Is.EqualTo(CoreObjectNames.FromWorkloadProgram));
            Assert.That(socketLb.Variant.Variant, Is.EqualTo(DataplaneVariant.Compat));
            Assert.That(socketLb.RefusalErrno, Is.EqualTo(Errno.EPERM));
        });
    }
}
