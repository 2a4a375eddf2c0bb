using System.Runtime.ExceptionServices;
using Microsoft.Win32.SafeHandles;

namespace ProxyReplacement.Dataplane.Netns;

/// <summary>
/// Runs code inside a named network namespace (<c>/var/run/netns/&lt;name&gt;</c>, as made by
/// <c>ip netns add</c>).
/// </summary>
/// <remarks>
/// A network namespace belongs to an OS thread, not to the process, so the code runs on a dedicated
/// new thread that enters the namespace first and ends afterwards: a thread in a foreign namespace is
/// never handed back to a pool where unrelated work would pick it up. Whatever the code creates keeps
/// its namespace after the thread ends: sockets, and libbpf's netlink sockets (so <c>Tc</c> calls made
/// inside act on that namespace's interfaces).
/// </remarks>
public static class NetworkNamespace
{
    /// <summary>Where <c>ip netns</c> bind-mounts named namespaces.</summary>
    public const string NamedNamespaceDirectory = "/var/run/netns";

    public static T Run<T>(string name, Func<T> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        using var fd = NetnsInterop.OpenNamespace(PathOf(name));
        return RunIn(fd, $"'{name}'", action);
    }

    public static void Run(string name, Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        Run<object?>(name, () =>
        {
            action();
            return null;
        });
    }

    /// <summary>The index of <paramref name="interfaceName"/> in the calling thread's namespace.</summary>
    /// <exception cref="ArgumentException">No such interface there.</exception>
    public static int InterfaceIndex(string interfaceName) =>
        NetnsInterop.InterfaceIndex(interfaceName)
        ?? throw new ArgumentException($"no interface named '{interfaceName}' in this network namespace", nameof(interfaceName));

    /// <summary>The kernel's identity of the calling thread's namespace, e.g. <c>net:[4026531840]</c>.</summary>
    public static string CurrentIdentity() => IdentityOf("/proc/thread-self/ns/net");

    /// <summary>Runs <paramref name="action"/> on a new thread inside the namespace open at <paramref name="fd"/>.</summary>
    internal static T RunIn<T>(SafeFileHandle fd, string description, Func<T> action)
    {
        T result = default!;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                NetnsInterop.EnterNetworkNamespace(fd, description);
                result = action();
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
        })
        {
            IsBackground = true,
            Name = $"netns {description}",
        };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result;
    }

    /// <summary>The identity (<c>net:[inode]</c>) of a namespace file or of an fd's /proc link.</summary>
    internal static string IdentityOf(string nsLinkPath) =>
        new FileInfo(nsLinkPath).LinkTarget
        ?? throw new InvalidOperationException($"{nsLinkPath} is not a namespace link");

    private static string PathOf(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('/') || name is "." or "..")
            throw new ArgumentException($"'{name}' is not a valid network namespace name", nameof(name));
        return Path.Combine(NamedNamespaceDirectory, name);
    }
}
