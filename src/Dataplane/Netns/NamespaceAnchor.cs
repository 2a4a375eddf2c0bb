using Microsoft.Win32.SafeHandles;

namespace ProxyReplacement.Dataplane.Netns;

/// <summary>
/// Remembers the network namespace a thread was in, so that later work (detaching a TC program)
/// happens in that namespace even when it is started from another thread — an ifindex means
/// nothing outside its namespace. Holds an fd on the namespace only when it is not the process's
/// own, which also keeps it alive until this anchor is disposed.
/// </summary>
internal sealed class NamespaceAnchor : IDisposable
{
    private const string ThreadNamespace = "/proc/thread-self/ns/net";
    private const string ProcessNamespace = "/proc/self/ns/net";

    private readonly SafeFileHandle? _foreignNamespace;

    private NamespaceAnchor(string identity, SafeFileHandle? foreignNamespace)
    {
        Identity = identity;
        _foreignNamespace = foreignNamespace;
    }

    /// <summary><c>net:[inode]</c> of the anchored namespace.</summary>
    public string Identity { get; }

    public static NamespaceAnchor OfCurrentThread()
    {
        var identity = NetworkNamespace.CurrentIdentity();
        return identity == NetworkNamespace.IdentityOf(ProcessNamespace)
            ? new NamespaceAnchor(identity, null)
            : new NamespaceAnchor(identity, NetnsInterop.OpenNamespace(ThreadNamespace));
    }

    /// <summary>Runs <paramref name="action"/> in the anchored namespace: inline when the calling thread is already there.</summary>
    public T Run<T>(Func<T> action)
    {
        if (NetworkNamespace.CurrentIdentity() == Identity)
            return action();
        if (_foreignNamespace is { IsClosed: false })
            return NetworkNamespace.RunIn(_foreignNamespace, Identity, action);
        using var process = NetnsInterop.OpenNamespace(ProcessNamespace);
        return NetworkNamespace.RunIn(process, Identity, action);
    }

    public void Dispose() => _foreignNamespace?.Dispose();
}
