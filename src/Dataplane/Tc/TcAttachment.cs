using ProxyReplacement.Dataplane.Netns;

namespace ProxyReplacement.Dataplane.Tc;

/// <summary>
/// A program attached by <see cref="Tc.Attach"/>. Disposing detaches it — in the namespace it was
/// attached in, whichever thread disposes — unless the filter now holds another program (it was
/// replaced by a later attach, e.g. of a restarted daemon), which is then left alone.
/// </summary>
public sealed class TcAttachment : IDisposable
{
    private const int ENODEV = 19; // the interface vanished between the lookup and the detach

    private readonly NamespaceAnchor _namespace;
    private int _detached;

    internal TcAttachment(int ifIndex, TcDirection direction, uint priority, uint handle, uint programId, NamespaceAnchor anchor)
    {
        IfIndex = ifIndex;
        Direction = direction;
        Priority = priority;
        Handle = handle;
        ProgramId = programId;
        _namespace = anchor;
    }

    public int IfIndex { get; }
    public TcDirection Direction { get; }
    public uint Priority { get; }
    public uint Handle { get; }

    /// <summary>The kernel id of the program that was attached.</summary>
    public uint ProgramId { get; }

    /// <summary>
    /// Detaches the program if it is still the one at (priority, handle). Idempotent; a filter that is
    /// already gone (interface or namespace deleted) is not an error.
    /// </summary>
    public void Detach()
    {
        if (Interlocked.Exchange(ref _detached, 1) != 0)
            return;
        try
        {
            _namespace.Run(DetachIfStillOurs);
        }
        finally
        {
            _namespace.Dispose();
        }
    }

    public void Dispose() => Detach();

    public override string ToString() =>
        $"tc {Direction.ToString().ToLowerInvariant()} ifindex {IfIndex} prio {Priority} handle {Handle}: prog {ProgramId}";

    private bool DetachIfStillOurs()
    {
        // No interface with that index any more: the veth or its namespace went away with our filter.
        if (NetnsInterop.InterfaceName(IfIndex) is null)
            return false;
        if (Tc.QueryProgramId(IfIndex, Direction, Priority, Handle) != ProgramId)
            return false;
        var result = Tc.TryDetach(IfIndex, Direction, Priority, Handle, out var libbpfLog);
        if (result < 0 && result != -Errno.ENOENT && result != -ENODEV)
            throw Tc.Failure($"cannot detach program {ProgramId}", result, IfIndex, Direction, Priority, Handle, libbpfLog);
        return result == 0;
    }
}
