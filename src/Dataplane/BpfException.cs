namespace ProxyReplacement.Dataplane;

/// <summary>errno values the dataplane code reasons about (Linux x86-64/arm64 numbering).</summary>
public static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int E2BIG = 7;
    public const int EBADF = 9;
    public const int ENOMEM = 12;
    public const int EEXIST = 17;
    public const int EINVAL = 22;
    public const int ENOSPC = 28;
    public const int EOPNOTSUPP = 95;
}

/// <summary>
/// A failed BPF or libbpf operation. Carries the errno and, where libbpf printed anything while
/// the operation ran (a verifier log, a relocation error), those lines.
/// </summary>
public class BpfException : Exception
{
    public BpfException(string message, int errno, string? libbpfLog = null, Exception? inner = null)
        : base(Compose(message, errno, libbpfLog), inner)
    {
        Errno = errno;
        LibbpfLog = libbpfLog;
    }

    /// <summary>The positive errno of the failure (0 when none applies).</summary>
    public int Errno { get; }

    /// <summary>What libbpf printed during the failed call, if anything.</summary>
    public string? LibbpfLog { get; }

    private static string Compose(string message, int errno, string? log)
    {
        var text = errno != 0 ? $"{message}: {ErrnoName(errno)} ({errno})" : message;
        return string.IsNullOrWhiteSpace(log) ? text : $"{text}\nlibbpf: {log.TrimEnd()}";
    }

    private static string ErrnoName(int errno) => errno switch
    {
        Dataplane.Errno.EPERM => "EPERM: operation not permitted (root or CAP_BPF/CAP_NET_ADMIN needed)",
        Dataplane.Errno.ENOENT => "ENOENT: no such entry",
        Dataplane.Errno.E2BIG => "E2BIG: map full or argument too big",
        Dataplane.Errno.EBADF => "EBADF: bad file descriptor",
        Dataplane.Errno.ENOMEM => "ENOMEM: out of memory",
        Dataplane.Errno.EEXIST => "EEXIST: already exists",
        Dataplane.Errno.EINVAL => "EINVAL: invalid argument",
        Dataplane.Errno.ENOSPC => "ENOSPC: no space",
        Dataplane.Errno.EOPNOTSUPP => "EOPNOTSUPP: not supported",
        _ => $"errno {errno}",
    };
}

/// <summary>An insert into a map that holds <see cref="MaxEntries"/> entries already.</summary>
public sealed class BpfMapFullException : BpfException
{
    public BpfMapFullException(string mapName, int maxEntries)
        : base($"map {mapName} is full ({maxEntries} entries)", Dataplane.Errno.E2BIG)
    {
        MapName = mapName;
        MaxEntries = maxEntries;
    }

    public string MapName { get; }
    public int MaxEntries { get; }
}
