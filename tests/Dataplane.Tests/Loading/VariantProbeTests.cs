using ProxyReplacement.Dataplane.Loading;

namespace ProxyReplacement.Dataplane.Tests.Loading;

/// <summary>
/// The probe's decision (VariantProbe): which failed loads of a default object mean "this kernel is too old,
/// load the compat build", and which stay errors. The log lines are the ones libbpf 1.1 and the verifier print
/// (checked against the real thing in <see cref="VariantProbeKernelTests"/>).
/// </summary>
public sealed class VariantProbeTests
{
    private const int Esrch = 3;

    private const string MissingCastKfunc =
        "libbpf: extern (func ksym) 'bpf_cast_to_kern_ctx': not found in kernel or module BTFs\nlibbpf: failed to load object 'tc_nat'";

    private static BpfException Failure(int errno, string log) => new("loading BPF object tc_nat into the kernel", errno, log);

    /// <summary>libbpf returns ESRCH here in some versions, EINVAL in Debian's 1.1.2: the line decides.</summary>
    [TestCase(Esrch)]
    [TestCase(Errno.EINVAL)]
    public void A_kernel_without_the_kfunc_gets_the_compat_tc_object(int errno)
    {
        var why = VariantProbe.WhyTcCompat(Failure(errno, MissingCastKfunc));

        Assert.That(why, Does.Contain("bpf_cast_to_kern_ctx").And.Contain("6.2"));
    }

    [Test]
    public void A_kernel_without_btf_gets_the_compat_tc_object()
    {
        var why = VariantProbe.WhyTcCompat(Failure(Esrch, "libbpf: Error loading vmlinux BTF: -3\nlibbpf: failed to load object 'tc_nat'"));

        Assert.That(why, Does.Contain("no BTF"));
    }

    [TestCase(Esrch, "libbpf: extern (func ksym) 'bpf_obj_new_impl': not found in kernel or module BTFs", TestName = "another kfunc missing")]
    [TestCase(Errno.EACCES, "; if (ip->check ...)\nR3 invalid mem access 'scalar'\nprocessed 93 insns", TestName = "a verifier rejection")]
    [TestCase(Errno.EPERM, "", TestName = "no permission")]
    [TestCase(Errno.EINVAL, "invalid func unknown#160\n", TestName = "no coarse clock without the kfunc missing")]
    public void Any_other_failure_of_the_tc_object_stands(int errno, string log)
    {
        Assert.That(VariantProbe.WhyTcCompat(Failure(errno, log)), Is.Null);
    }

    /// <summary>The three ways kernels from 5.x to 6.x word a call to a helper they do not offer.</summary>
    [TestCase("0: (85) call unknown#187\ninvalid func unknown#187\nprocessed 40 insns")]
    [TestCase("42: (85) call bpf_set_retval#187\nunknown func bpf_set_retval#187\n")]
    [TestCase("42: (85) call bpf_set_retval#187\nprogram of this type cannot use helper bpf_set_retval#187\n")]
    public void A_kernel_without_set_retval_gets_the_compat_socket_object(string log)
    {
        var why = VariantProbe.WhySocketCompat(Failure(Errno.EINVAL, log));

        Assert.That(why, Does.Contain("bpf_set_retval").And.Contain("EPERM"));
    }

    [TestCase(Errno.EINVAL, "invalid func unknown#186\n", TestName = "another helper missing")]
    [TestCase(Errno.EACCES, "invalid func unknown#187\n", TestName = "the helper line with another errno")]
    [TestCase(Errno.EINVAL, "R1 type=ctx expected=fp\n", TestName = "another verifier complaint")]
    [TestCase(Esrch, MissingCastKfunc, TestName = "the tc object's failure")]
    public void Any_other_failure_of_the_socket_object_stands(int errno, string log)
    {
        Assert.That(VariantProbe.WhySocketCompat(Failure(errno, log)), Is.Null);
    }

    [TestCase(Esrch)]
    [TestCase(Errno.EINVAL)]
    public void A_kernel_without_bpf_sock_destroy_gets_the_counting_compat_socket_terminator(int errno)
    {
        var why = VariantProbe.WhySocketDestroyCompat(
            Failure(errno, "libbpf: extern (func ksym) 'bpf_sock_destroy': not found in kernel or module BTFs\nlibbpf: failed to load object 'sock_destroy'"));

        Assert.That(why, Does.Contain("bpf_sock_destroy").And.Contain("6.5").And.Contain("not terminated"));
    }

    /// <summary>No kernel BTF: the compat build needs it too (tracing programs), so the failure stands and the daemon degrades.</summary>
    [TestCase(Esrch, "libbpf: Error loading vmlinux BTF: -3\n", TestName = "no kernel BTF")]
    [TestCase(Esrch, MissingCastKfunc, TestName = "another kfunc missing (tc's)")]
    [TestCase(Errno.EINVAL, "invalid func unknown#187\n", TestName = "a helper missing")]
    public void Any_other_failure_of_the_socket_terminator_stands(int errno, string log)
    {
        Assert.That(VariantProbe.WhySocketDestroyCompat(Failure(errno, log)), Is.Null);
    }

    [Test]
    public void The_parsers_read_name_and_id()
    {
        Assert.Multiple(() =>
        {
            Assert.That(VariantProbe.MissingKfunc(Failure(Esrch, MissingCastKfunc)), Is.EqualTo("bpf_cast_to_kern_ctx"));
            Assert.That(VariantProbe.MissingKfunc(new BpfException("x", Esrch)), Is.Null, "no log at all");
            Assert.That(VariantProbe.RejectedHelper(Failure(Errno.EINVAL, "unknown func bpf_set_retval#187")), Is.EqualTo(("bpf_set_retval", 187)));
            Assert.That(VariantProbe.RejectedHelper(Failure(Errno.EINVAL, "R0 !read_ok")), Is.Null);
        });
    }

    [Test]
    public void Variant_files_are_named_after_the_default_object()
    {
        Assert.Multiple(() =>
        {
            Assert.That(DataplaneVariants.ObjectFile("tc_nat.bpf.o", DataplaneVariant.Compat), Is.EqualTo("tc_nat_compat.bpf.o"));
            Assert.That(DataplaneVariants.ObjectFile("tc_nat.bpf.o", DataplaneVariant.Fast), Is.EqualTo("tc_nat.bpf.o"));
            Assert.That(() => DataplaneVariants.ObjectFile("tc_nat.o", DataplaneVariant.Compat), Throws.ArgumentException);
            Assert.That(EmbeddedObjects.Names, Does.Contain("tc_nat_compat.bpf.o").And.Contain("sock_lb_compat.bpf.o").And.Contain("sock_destroy_compat.bpf.o"));
        });
    }

    [TestCase(null, DataplaneVariant.Auto, false)]
    [TestCase("", DataplaneVariant.Auto, false)]
    [TestCase("auto", DataplaneVariant.Auto, false)]
    [TestCase("compat", DataplaneVariant.Compat, true)]
    [TestCase(" Compat ", DataplaneVariant.Compat, true)]
    [TestCase("fast", DataplaneVariant.Fast, true)]
    public void The_environment_forces_a_variant_only_for_auto(string? value, DataplaneVariant expected, bool forced)
    {
        var resolved = DataplaneVariants.Resolve(DataplaneVariant.Auto, Env(value));
        var explicitFast = DataplaneVariants.Resolve(DataplaneVariant.Fast, Env(value));

        Assert.Multiple(() =>
        {
            Assert.That(resolved.Variant, Is.EqualTo(expected));
            Assert.That(resolved.Forced, forced ? Does.Contain(DataplaneVariants.EnvironmentVariable) : Is.Null);
            Assert.That(explicitFast, Is.EqualTo((DataplaneVariant.Fast, "requested by the caller")), "an explicit request wins");
        });
    }

    [Test]
    public void A_variant_the_environment_cannot_mean_is_an_error()
    {
        var error = Assert.Throws<ArgumentException>(() => DataplaneVariants.Resolve(DataplaneVariant.Auto, Env("legacy")));
        Assert.That(error!.Message, Does.Contain("PR_DATAPLANE_VARIANT=legacy").And.Contain("fast, compat or auto"));
    }

    [Test]
    public void The_loader_falls_back_only_on_what_the_probe_recognises()
    {
        var tried = new List<DataplaneVariant>();
        string Load(DataplaneVariant v)
        {
            tried.Add(v);
            return v == DataplaneVariant.Fast ? throw Failure(Esrch, MissingCastKfunc) : "compat object";
        }

        var (loaded, variant) = VariantLoader.Load(DataplaneVariant.Auto, "tc_nat.bpf.o", Load, VariantProbe.WhyTcCompat, Env(null));

        Assert.Multiple(() =>
        {
            Assert.That(tried, Is.EqualTo(new[] { DataplaneVariant.Fast, DataplaneVariant.Compat }));
            Assert.That(loaded, Is.EqualTo("compat object"));
            Assert.That(variant.Variant, Is.EqualTo(DataplaneVariant.Compat));
            Assert.That(variant.Reason, Does.StartWith("probed: ").And.Contain("bpf_cast_to_kern_ctx"));
        });
    }

    [Test]
    public void An_unrecognised_failure_of_the_default_object_is_not_retried()
    {
        var tried = new List<DataplaneVariant>();
        var original = Failure(Errno.EACCES, "R3 invalid mem access 'scalar'");
        string Load(DataplaneVariant v)
        {
            tried.Add(v);
            throw original;
        }

        var error = Assert.Throws<BpfException>(() => VariantLoader.Load(DataplaneVariant.Auto, "tc_nat.bpf.o", Load, VariantProbe.WhyTcCompat, Env(null)));

        Assert.Multiple(() =>
        {
            Assert.That(error, Is.SameAs(original));
            Assert.That(tried, Is.EqualTo(new[] { DataplaneVariant.Fast }));
        });
    }

    [Test]
    public void A_failing_compat_object_says_why_it_was_tried()
    {
        string Load(DataplaneVariant v) =>
            throw (v == DataplaneVariant.Fast ? Failure(Esrch, MissingCastKfunc) : Failure(Errno.EACCES, "R1 invalid mem access"));

        var error = Assert.Throws<BpfException>(() => VariantLoader.Load(DataplaneVariant.Auto, "tc_nat.bpf.o", Load, VariantProbe.WhyTcCompat, Env(null)));

        Assert.Multiple(() =>
        {
            Assert.That(error!.Errno, Is.EqualTo(Errno.EACCES));
            Assert.That(error.Message, Does.Contain("compat build of tc_nat.bpf.o").And.Contain("bpf_cast_to_kern_ctx").And.Contain("R1 invalid mem access"));
        });
    }

    [TestCase(DataplaneVariant.Fast)]
    [TestCase(DataplaneVariant.Compat)]
    public void A_forced_variant_is_loaded_alone_and_its_failure_stands(DataplaneVariant forced)
    {
        var tried = new List<DataplaneVariant>();
        string Load(DataplaneVariant v)
        {
            tried.Add(v);
            throw Failure(Esrch, MissingCastKfunc);
        }

        Assert.Throws<BpfException>(() => VariantLoader.Load(forced, "tc_nat.bpf.o", Load, VariantProbe.WhyTcCompat, Env(null)));
        Assert.That(tried, Is.EqualTo(new[] { forced }));
    }

    private static Func<string, string?> Env(string? variant) =>
        name => name == DataplaneVariants.EnvironmentVariable ? variant : null;
}
