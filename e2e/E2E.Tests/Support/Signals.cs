using System.Runtime.InteropServices;

namespace ProxyReplacement.E2E.Tests.Support;

/// <summary>POSIX signals: .NET's Process.Kill only sends SIGKILL, and the daemon's graceful path is SIGTERM.</summary>
internal static partial class Signals
{
    public const int SigKill = 9;
    public const int SigTerm = 15;

    public static void Send(int pid, int signal)
    {
        if (kill(pid, signal) != 0)
            throw new InvalidOperationException($"kill({pid}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
