using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Interop;

/// <summary>
/// libbpf's TC (clsact + cls_bpf) attach API. Every call opens its own netlink socket, so it acts
/// on the network namespace of the calling thread. All functions return 0 or a negative errno.
/// </summary>
internal static partial class LibBpfTc
{
    private const string Library = "libbpf.so.1";

    /// <summary><c>enum bpf_tc_attach_point</c>.</summary>
    internal const uint AttachIngress = 1u << 0;
    internal const uint AttachEgress = 1u << 1;

    /// <summary><c>BPF_TC_F_REPLACE</c>: replace a filter at the same (priority, handle) in one netlink request.</summary>
    internal const uint FlagReplace = 1u << 0;

    /// <summary>
    /// Mirrors <c>struct bpf_tc_hook</c> of libbpf 1.1:
    /// <code>
    /// struct bpf_tc_hook { size_t sz; int ifindex; enum bpf_tc_attach_point attach_point; __u32 parent; size_t :0; };
    /// </code>
    /// The trailing <c>size_t :0</c> pads the struct to 24 bytes; libbpf rejects non-zero tail bytes.
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 24)]
    internal struct TcHook
    {
        [FieldOffset(0)] public nuint Size;
        [FieldOffset(8)] public int IfIndex;
        [FieldOffset(12)] public uint AttachPoint;
        [FieldOffset(16)] public uint Parent;

        public static TcHook For(int ifindex, uint attachPoint) => new()
        {
            Size = (nuint)Marshal.SizeOf<TcHook>(),
            IfIndex = ifindex,
            AttachPoint = attachPoint,
        };
    }

    /// <summary>
    /// Mirrors <c>struct bpf_tc_opts</c> of libbpf 1.1:
    /// <code>
    /// struct bpf_tc_opts { size_t sz; int prog_fd; __u32 flags; __u32 prog_id; __u32 handle; __u32 priority; size_t :0; };
    /// </code>
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 32)]
    internal struct TcOpts
    {
        [FieldOffset(0)] public nuint Size;
        [FieldOffset(8)] public int ProgramFd;
        [FieldOffset(12)] public uint Flags;
        [FieldOffset(16)] public uint ProgramId;
        [FieldOffset(20)] public uint Handle;
        [FieldOffset(24)] public uint Priority;

        public static TcOpts For(uint handle, uint priority) => new()
        {
            Size = (nuint)Marshal.SizeOf<TcOpts>(),
            Handle = handle,
            Priority = priority,
        };
    }

    [LibraryImport(Library, EntryPoint = "bpf_tc_hook_create")]
    internal static partial int HookCreate(ref TcHook hook);

    [LibraryImport(Library, EntryPoint = "bpf_tc_hook_destroy")]
    internal static partial int HookDestroy(ref TcHook hook);

    [LibraryImport(Library, EntryPoint = "bpf_tc_attach")]
    internal static partial int Attach(in TcHook hook, ref TcOpts opts);

    [LibraryImport(Library, EntryPoint = "bpf_tc_detach")]
    internal static partial int Detach(in TcHook hook, in TcOpts opts);

    [LibraryImport(Library, EntryPoint = "bpf_tc_query")]
    internal static partial int Query(in TcHook hook, ref TcOpts opts);
}
