namespace ProxyReplacement.Dataplane.Netns;

/// <summary>Entering or opening a network namespace failed (missing namespace, no CAP_SYS_ADMIN).</summary>
public sealed class NetworkNamespaceException : Exception
{
    public NetworkNamespaceException(string message, int errno)
        : base($"{message}: {new System.ComponentModel.Win32Exception(errno).Message} (errno {errno})")
    {
        Errno = errno;
    }

    /// <summary>The positive errno of the failed call.</summary>
    public int Errno { get; }
}
