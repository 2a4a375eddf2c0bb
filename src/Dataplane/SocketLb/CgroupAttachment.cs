namespace ProxyReplacement.Dataplane.SocketLb;

/// <summary>
/// The socket hooks attached to one cgroup by unpinned links (<see cref="SocketLoadBalancer.Attach"/>).
/// Dispose detaches them all (closing the only fds of the links).
/// </summary>
public sealed class CgroupAttachment : IDisposable
{
    private readonly Dictionary<SocketHook, CgroupLink> _links;
    private bool _disposed;

    internal CgroupAttachment(string cgroupPath, ulong cgroupId, Dictionary<SocketHook, CgroupLink> links)
    {
        CgroupPath = cgroupPath;
        CgroupId = cgroupId;
        _links = links;
    }

    public string CgroupPath { get; }
    public ulong CgroupId { get; }

    /// <summary>What the kernel reports for each hook's link now.</summary>
    public IReadOnlyDictionary<SocketHook, CgroupLinkInfo> Links()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _links.ToDictionary(pair => pair.Key, pair => pair.Value.Info());
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        foreach (var link in _links.Values)
            link.Dispose();
    }
}
