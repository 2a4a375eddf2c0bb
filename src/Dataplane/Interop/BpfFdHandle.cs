using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Interop;

/// <summary>An owned file descriptor of a BPF map or program (or a bpffs pin opened with bpf_obj_get).</summary>
public sealed class BpfFdHandle : SafeHandle
{
    private BpfFdHandle() : base(-1, ownsHandle: true)
    {
    }

    /// <summary>Takes ownership of <paramref name="fd"/>; it is closed when the handle is released.</summary>
    public static BpfFdHandle Own(int fd)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fd);
        var handle = new BpfFdHandle();
        handle.SetHandle(fd);
        return handle;
    }

    /// <summary>Duplicates <paramref name="fd"/> (close-on-exec) into a new owned handle.</summary>
    internal static BpfFdHandle Duplicate(int fd, string what)
    {
        var copy = Libc.DuplicateCloseOnExec(fd);
        if (copy < 0)
            throw new BpfException($"dup of the fd of {what}", Marshal.GetLastPInvokeError());
        return Own(copy);
    }

    public override bool IsInvalid => handle < 0;

    /// <summary>The raw fd; valid while this handle is not disposed.</summary>
    public int Fd
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsClosed, this);
            return (int)handle;
        }
    }

    protected override bool ReleaseHandle() => Libc.close((int)handle) == 0;
}
