using System.Globalization;
using System.Text.RegularExpressions;

namespace ProxyReplacement.Dataplane.Loading;

/// <summary>
/// Decides, from a failed load of a default object, whether the kernel merely lacks what the default
/// build needs (then the compat build is loaded) or something else is wrong (then the failure stands).
/// Pure: it reads the errno and the lines libbpf and the verifier printed, nothing else. What they print
/// for these cases (libbpf 1.1, Linux 5.x to 6.x):
/// <list type="bullet">
/// <item>a kfunc the kernel does not have: libbpf resolves it against the kernel's BTF before the
/// kernel sees the object, and stops with "extern (func ksym) 'NAME': not found in kernel or module
/// BTFs" (Debian's libbpf 1.1.2 returns EINVAL then, measured; the line alone decides, whatever the
/// errno, as it names the kfunc);</item>
/// <item>no kernel BTF at all (CONFIG_DEBUG_INFO_BTF off): "Error loading vmlinux BTF: ..." (the kfunc
/// and the CO-RE read both need it);</item>
/// <item>a helper the kernel does not have, or not for this program type: the verifier rejects the
/// call, EINVAL, with "invalid func NAME#ID" (an id beyond the kernel's), "unknown func NAME#ID" (5.x)
/// or "program of this type cannot use helper NAME#ID" (6.x).</item>
/// </list>
/// The test objects bpf-c/test/probe_no_kfunc.bpf.c and probe_no_helper.bpf.c make this libbpf and this
/// kernel print the first and the last for real, and the tests parse what they printed.
/// </summary>
public static partial class VariantProbe
{
    /// <summary>The kfunc of tc_nat.bpf.o's skb checksum state (Linux 6.2).</summary>
    public const string TcFastPathKfunc = "bpf_cast_to_kern_ctx";

    /// <summary>BPF_FUNC_set_retval (Linux 5.18), which sock_lb.bpf.o calls to refuse with ECONNREFUSED.</summary>
    public const int SetRetvalHelper = 187;

    /// <summary>The kfunc libbpf found in neither the kernel's nor a module's BTF, or null when the load failed otherwise.</summary>
    public static string? MissingKfunc(BpfException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (error.LibbpfLog is null)
            return null;
        var match = MissingKfuncLine().Match(error.LibbpfLog);
        return match.Success ? match.Groups["name"].Value : null;
    }

    /// <summary>Whether libbpf could not load the kernel's BTF (the kernel has none, or it is unreadable).</summary>
    public static bool KernelBtfMissing(BpfException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return error.LibbpfLog?.Contains("Error loading vmlinux BTF", StringComparison.Ordinal) == true;
    }

    /// <summary>The helper (name as the verifier printed it, id) whose call the verifier rejected as unknown or not allowed; null otherwise.</summary>
    public static (string Name, int Id)? RejectedHelper(BpfException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (error.Errno != Errno.EINVAL || error.LibbpfLog is null)
            return null;
        var match = RejectedHelperLine().Match(error.LibbpfLog);
        return match.Success
            ? (match.Groups["name"].Value, int.Parse(match.Groups["id"].Value, CultureInfo.InvariantCulture))
            : null;
    }

    /// <summary>Why the compat tc_nat object is to be loaded after <paramref name="error"/>, or null when the failure stands.</summary>
    public static string? WhyTcCompat(BpfException error)
    {
        if (MissingKfunc(error) == TcFastPathKfunc)
            return $"the kernel has no kfunc {TcFastPathKfunc} (Linux before 6.2): L4 checksums by bpf_l4_csum_replace, the exact clock";
        if (KernelBtfMissing(error))
            return "the kernel has no BTF (/sys/kernel/btf/vmlinux), which the default object's kfunc and CO-RE read need: " +
                   "L4 checksums by bpf_l4_csum_replace, the exact clock";
        return null;
    }

    /// <summary>Why the compat sock_lb object is to be loaded after <paramref name="error"/>, or null when the failure stands.</summary>
    public static string? WhySocketCompat(BpfException error) =>
        RejectedHelper(error)?.Id == SetRetvalHelper
            ? "the kernel has no bpf_set_retval for socket hooks (Linux before 5.18): a refused connect()/sendmsg() fails with EPERM, not ECONNREFUSED"
            : null;

    /// <summary>The kfunc sock_destroy.bpf.o calls to terminate a socket (Linux 6.5).</summary>
    public const string SocketDestroyKfunc = "bpf_sock_destroy";

    /// <summary>
    /// Why the compat sock_destroy object (which finds the sockets of removed backends but cannot destroy them) is to be
    /// loaded after <paramref name="error"/>, or null when the failure stands (no kernel BTF: the compat build needs it too).
    /// </summary>
    public static string? WhySocketDestroyCompat(BpfException error) => WhySocketDestroyCompat(error, SocketDestroyKfunc);

    /// <summary>The same for an object whose kfunc is named <paramref name="kfunc"/> (tests: a name no kernel has).</summary>
    internal static string? WhySocketDestroyCompat(BpfException error, string kfunc) =>
        MissingKfunc(error) == kfunc
            ? $"the kernel has no kfunc {kfunc} (Linux before 6.5): sockets connected to removed backends are found and counted, not terminated"
            : null;

    [GeneratedRegex(@"extern \(func ksym\) '(?<name>[A-Za-z0-9_]+)': not found in kernel or module BTFs")]
    private static partial Regex MissingKfuncLine();

    [GeneratedRegex(@"(?:invalid func|unknown func|cannot use helper) (?<name>\S+)#(?<id>\d+)")]
    private static partial Regex RejectedHelperLine();
}
