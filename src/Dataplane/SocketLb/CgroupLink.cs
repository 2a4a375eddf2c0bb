using ProxyReplacement.Dataplane.Interop;
using ProxyReplacement.Dataplane.Programs;

namespace ProxyReplacement.Dataplane.SocketLb;

/// <summary>What the kernel says about a cgroup link.</summary>
/// <param name="LinkId">bpftool link show id.</param>
/// <param name="ProgramId">The program the link runs now.</param>
/// <param name="CgroupId">The cgroup it is attached to; 0 once that cgroup was removed (the link is then defunct).</param>
/// <param name="Hook">The hook, or null when the link is attached at some other cgroup attach type.</param>
public sealed record CgroupLinkInfo(uint LinkId, uint ProgramId, ulong CgroupId, SocketHook? Hook);

/// <summary>
/// A BPF link attaching one program to one cgroup hook (BPF_LINK_CREATE). The link lives while an
/// fd or a bpffs pin holds it; closing the last one detaches the program. Links coexist with
/// other programs on the same hook (multi-attach), and <see cref="Update"/> swaps the program in
/// one step (BPF_LINK_UPDATE), so the hook never runs without one.
/// </summary>
internal sealed unsafe class CgroupLink : IDisposable
{
    private readonly BpfFdHandle _fd;

    private CgroupLink(BpfFdHandle fd, string what)
    {
        _fd = fd;
        What = what;
    }

    public string What { get; }

    public int Fd => _fd.Fd;

    public static CgroupLink Create(BpfProgram program, BpfFdHandle cgroup, string cgroupPath, SocketHook hook)
    {
        var what = $"{SocketHooks.Name(hook)} link of {cgroupPath}";
        using var log = LibBpfLog.Begin();
        var fd = LibBpf.bpf_link_create(program.Fd, cgroup.Fd, SocketHooks.AttachType(hook), null);
        if (fd < 0)
            throw new BpfException($"attaching {program.Name} at cgroup {cgroupPath} ({SocketHooks.Name(hook)})", -fd, log.Text);
        return new CgroupLink(BpfFdHandle.Own(fd), what);
    }

    /// <summary>Opens a pinned link; a clear error when the pin is something else.</summary>
    public static CgroupLink OpenPinned(string path)
    {
        var fd = LibBpf.bpf_obj_get(path);
        if (fd < 0)
            throw new BpfException($"opening pinned link {path}", -fd);
        var handle = BpfFdHandle.Own(fd);
        if (!BpfObjectInfo.IsLink(fd))
        {
            handle.Dispose();
            throw new BpfException($"{path} is pinned but is not a BPF link; remove it (run the `cleanup` command)", Errno.EINVAL);
        }
        return new CgroupLink(handle, $"pinned link {path}");
    }

    public CgroupLinkInfo Info()
    {
        var info = BpfObjectInfo.Link(Fd, What);
        var isCgroup = info.Type == BpfLinkType.Cgroup;
        return new CgroupLinkInfo(info.Id, info.ProgramId, isCgroup ? info.CgroupId : 0, isCgroup ? SocketHooks.OfAttachType(info.AttachType) : null);
    }

    /// <summary>Swaps in <paramref name="program"/> atomically.</summary>
    public void Update(BpfProgram program)
    {
        var rc = LibBpf.bpf_link_update(Fd, program.Fd, null);
        if (rc < 0)
            throw new BpfException($"replacing the program of {What} with {program.Name}", -rc);
    }

    public void Pin(string path)
    {
        var rc = LibBpf.bpf_obj_pin(Fd, path);
        if (rc < 0)
            throw new BpfException($"pinning {What} at {path}", -rc);
    }

    /// <summary>Detaches the program for every holder of this link (pins and fds become defunct).</summary>
    public void Detach()
    {
        const int ENOLINK = 67; // already detached (e.g. its cgroup was removed): nothing left to do
        var rc = LibBpf.bpf_link_detach(Fd);
        if (rc < 0 && rc != -ENOLINK)
            throw new BpfException($"detaching {What}", -rc);
    }

    public void Dispose() => _fd.Dispose();
}
