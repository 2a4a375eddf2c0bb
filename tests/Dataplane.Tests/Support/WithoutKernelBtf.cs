using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Tests.Support;

/// <summary>
/// Runs code as on a kernel without BTF: on a thread of its own in a private mount namespace where
/// <c>/sys/kernel/btf/vmlinux</c> is covered by <c>/dev/null</c>, so libbpf finds no kernel BTF (as on a
/// kernel built without CONFIG_DEBUG_INFO_BTF). The namespace is made private (MS_REC|MS_PRIVATE) before
/// anything is mounted in it, so nothing propagates to the host, whose BTF every other process keeps seeing;
/// it disappears with the thread.
/// </summary>
public static partial class WithoutKernelBtf
{
    private const string KernelBtf = "/sys/kernel/btf/vmlinux";
    private const int CloneNewNs = 0x00020000;
    private const ulong MsBind = 4096;
    private const ulong MsRec = 16384;
    private const ulong MsPrivate = 1 << 18;

    public static T Run<T>(Func<T> action)
    {
        T result = default!;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                if (unshare(CloneNewNs) != 0)
                    throw new InvalidOperationException($"unshare(CLONE_NEWNS) failed: errno {Marshal.GetLastPInvokeError()}");
                if (mount(null, "/", null, MsRec | MsPrivate, 0) != 0)
                    throw new InvalidOperationException($"making the private mount namespace private failed: errno {Marshal.GetLastPInvokeError()}");
                if (mount("/dev/null", KernelBtf, null, MsBind, 0) != 0)
                    throw new InvalidOperationException($"covering {KernelBtf} failed: errno {Marshal.GetLastPInvokeError()}");
                result = action();
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
        }) { IsBackground = true, Name = "without-kernel-btf" };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int unshare(int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mount(string? source, string target, string? fileSystemType, ulong flags, nint data);
}
