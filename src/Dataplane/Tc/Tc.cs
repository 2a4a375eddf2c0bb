using ProxyReplacement.Dataplane.Interop;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.Programs;

namespace ProxyReplacement.Dataplane.Tc;

/// <summary>
/// Attaches BPF programs as direct-action cls_bpf filters on an interface's clsact qdisc.
/// Acts on the network namespace of the calling thread (see <see cref="NetworkNamespace.Run{T}"/>).
/// A filter is identified by (direction, priority, handle); priority is 1..65535, handle non-zero.
/// </summary>
public static class Tc
{
    /// <summary>
    /// Creates the clsact qdisc if missing and attaches <paramref name="program"/> in direct-action
    /// mode. A filter already at (priority, handle) is replaced in the same netlink request
    /// (BPF_TC_F_REPLACE), so the hook never runs without a program in between.
    /// </summary>
    public static TcAttachment Attach(int ifindex, TcDirection direction, BpfProgram program, uint priority = 1, uint handle = 1)
    {
        ArgumentNullException.ThrowIfNull(program);
        Validate(ifindex, priority, handle);
        var hook = LibBpfTc.TcHook.For(ifindex, AttachPoint(direction));
        var anchor = NamespaceAnchor.OfCurrentThread();
        try
        {
            // libbpf prints the kernel's extack text ("Exclusivity flag on...") for an existing qdisc:
            // captured, so it only surfaces in the exception of a real failure.
            using (var log = LibBpfLog.Begin())
            {
                var created = LibBpfTc.HookCreate(ref hook);
                if (created < 0 && created != -Errno.EEXIST)
                    throw Failure("cannot create the clsact qdisc", created, ifindex, direction, priority, handle, log.Text);
            }

            var opts = LibBpfTc.TcOpts.For(handle, priority);
            opts.ProgramFd = program.Fd;
            opts.Flags = LibBpfTc.FlagReplace;
            using (var log = LibBpfLog.Begin())
            {
                var attached = LibBpfTc.Attach(hook, ref opts);
                if (attached < 0)
                    throw Failure($"cannot attach program {program.Name}", attached, ifindex, direction, priority, handle, log.Text);
            }
            return new TcAttachment(ifindex, direction, priority, handle, opts.ProgramId, anchor);
        }
        catch
        {
            anchor.Dispose();
            throw;
        }
    }

    /// <summary>The id of the program at (priority, handle); null when nothing is attached there (or no clsact qdisc exists).</summary>
    public static uint? QueryProgramId(int ifindex, TcDirection direction, uint priority = 1, uint handle = 1)
    {
        Validate(ifindex, priority, handle);
        var hook = LibBpfTc.TcHook.For(ifindex, AttachPoint(direction));
        var opts = LibBpfTc.TcOpts.For(handle, priority);
        using var log = LibBpfLog.Begin();
        var result = LibBpfTc.Query(hook, ref opts);
        // Arguments were validated above, so EINVAL here is the kernel saying the clsact qdisc is missing.
        if (result == -Errno.ENOENT || result == -Errno.EINVAL)
            return null;
        if (result < 0)
            throw Failure("cannot query the tc filter", result, ifindex, direction, priority, handle, log.Text);
        return opts.ProgramId;
    }

    /// <summary>Removes the filter at (priority, handle). Throws (ENOENT) when nothing is attached there.</summary>
    public static void Detach(int ifindex, TcDirection direction, uint priority = 1, uint handle = 1)
    {
        var result = TryDetach(ifindex, direction, priority, handle, out var libbpfLog);
        if (result < 0)
            throw Failure("cannot detach the tc filter", result, ifindex, direction, priority, handle, libbpfLog);
    }

    /// <summary>Detaches and returns libbpf's result (0 or a negative errno) instead of throwing.</summary>
    internal static int TryDetach(int ifindex, TcDirection direction, uint priority, uint handle, out string? libbpfLog)
    {
        Validate(ifindex, priority, handle);
        var hook = LibBpfTc.TcHook.For(ifindex, AttachPoint(direction));
        var opts = LibBpfTc.TcOpts.For(handle, priority);
        using var log = LibBpfLog.Begin();
        var result = LibBpfTc.Detach(hook, opts);
        libbpfLog = log.Text;
        // As in QueryProgramId: EINVAL after validation means there is no clsact qdisc, hence no filter.
        return result == -Errno.EINVAL ? -Errno.ENOENT : result;
    }

    internal static BpfException Failure(string what, int negativeErrno, int ifindex, TcDirection direction, uint priority, uint handle,
        string? libbpfLog)
    {
        var name = NetnsInterop.InterfaceName(ifindex) ?? "no such interface";
        var where = $"{direction.ToString().ToLowerInvariant()} of ifindex {ifindex} ({name}), priority {priority}, handle {handle}";
        return new BpfException($"tc: {what} at {where}", -negativeErrno, libbpfLog);
    }

    private static uint AttachPoint(TcDirection direction) => direction switch
    {
        TcDirection.Ingress => LibBpfTc.AttachIngress,
        TcDirection.Egress => LibBpfTc.AttachEgress,
        _ => throw new ArgumentOutOfRangeException(nameof(direction), direction, "unknown tc direction"),
    };

    private static void Validate(int ifindex, uint priority, uint handle)
    {
        if (ifindex <= 0)
            throw new ArgumentOutOfRangeException(nameof(ifindex), ifindex, "an interface index is positive");
        if (priority is 0 or > ushort.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(priority), priority, "tc priority must be 1..65535");
        if (handle == 0)
            throw new ArgumentOutOfRangeException(nameof(handle), handle, "tc handle must be non-zero");
    }
}
