using ProxyReplacement.Dataplane.Maps;

namespace ProxyReplacement.Dataplane;

/// <summary>errno values the dataplane code reasons about (Linux x86-64/arm64 numbering).</summary>
public static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int E2BIG = 7;
    public const int EBADF = 9;
    public const int EACCES = 13;
    public const int ENOMEM = 12;
    public const int EEXIST = 17;
    public const int EINVAL = 22;
    public const int ENOSPC = 28;
    public const int EOPNOTSUPP = 95;
    public const int ECONNABORTED = 103;
    public const int ECONNREFUSED = 111;
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
        return string.IsNullOrWhiteSpace(log) ? text : $"{text}\n--- libbpf log ---\n{log.TrimEnd()}";
    }

    private static string ErrnoName(int errno) => errno switch
    {
        Dataplane.Errno.EPERM => "EPERM: operation not permitted (root or CAP_BPF/CAP_NET_ADMIN needed)",
        Dataplane.Errno.ENOENT => "ENOENT: no such entry",
        Dataplane.Errno.E2BIG => "E2BIG: map full or argument too big",
        Dataplane.Errno.EBADF => "EBADF: bad file descriptor",
        Dataplane.Errno.EACCES => "EACCES: permission denied (for a program load: the verifier rejected it)",
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

/// <summary>
/// A map's kernel layout differs from what the code expects: a pinned map under one of our names
/// whose type/key/value/max_entries/flags differ from the object being loaded, or a map opened with
/// C# key/value types of the wrong size. The pinned map is left untouched: replacing it would drop
/// its state (established flows) without anyone deciding to.
/// </summary>
public sealed class MapLayoutMismatchException : BpfException
{
    public MapLayoutMismatchException(string mapName, string? pinPath, BpfMapLayout actual, BpfMapLayout expected, string advice)
        : base(Describe(mapName, pinPath, actual, expected, advice), 0)
    {
        MapName = mapName;
        PinPath = pinPath;
        Actual = actual;
        Expected = expected;
    }

    public string MapName { get; }

    /// <summary>The pin path of the existing map, when it came from a pin.</summary>
    public string? PinPath { get; }

    /// <summary>The layout of the map as the kernel has it (pinned or opened).</summary>
    public BpfMapLayout Actual { get; }

    /// <summary>The layout the object being loaded (or the C# types) wants.</summary>
    public BpfMapLayout Expected { get; }

    private static string Describe(string mapName, string? pinPath, BpfMapLayout actual, BpfMapLayout expected, string advice)
    {
        var where = pinPath is null ? $"map {mapName}" : $"pinned map {mapName} at {pinPath}";
        return $"{where} has layout {actual}, expected {expected} (differs in: {string.Join(", ", actual.Differences(expected))}). {advice}";
    }
}

/// <summary>
/// The pinned <c>pr_config</c> was written by a dataplane of another ABI version
/// (<c>PR_ABI_VERSION</c>): its maps may hold entries this code would misread. Nothing is loaded.
/// </summary>
public sealed class PinnedAbiVersionMismatchException : BpfException
{
    public PinnedAbiVersionMismatchException(string pinPath, uint pinnedVersion, uint currentVersion)
        : base($"the pinned maps under {Path.GetDirectoryName(pinPath)} were written with map ABI version {pinnedVersion}; " +
               $"this build uses ABI version {currentVersion} ({pinPath}). Refusing to adopt them. Run the `cleanup` " +
               "command to remove the old pins (this drops their state, e.g. established connections' NAT), then start again.", 0)
    {
        PinPath = pinPath;
        PinnedVersion = pinnedVersion;
        CurrentVersion = currentVersion;
    }

    public string PinPath { get; }
    public uint PinnedVersion { get; }
    public uint CurrentVersion { get; }
}
