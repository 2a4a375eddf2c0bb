using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Interop;

/// <summary>
/// P/Invoke declarations for libbpf 1.1 (Debian's libbpf1). Conventions of libbpf 1.x: functions
/// returning int give a negative errno on failure; functions returning a pointer give NULL and set
/// errno (hence SetLastError on those). Opts structs start with <c>size_t sz</c>, which libbpf
/// uses to accept older/newer callers; each mirror below is checked against /usr/include/bpf.
/// </summary>
internal static unsafe partial class LibBpf
{
    public const string Library = "libbpf.so.1";

    // ---- objects -------------------------------------------------------------------------

    [LibraryImport(Library, SetLastError = true)]
    public static partial nint bpf_object__open_mem(void* objBuf, nuint objBufSize, BpfObjectOpenOpts* opts);

    [LibraryImport(Library)]
    public static partial int bpf_object__load(nint obj);

    [LibraryImport(Library)]
    public static partial void bpf_object__close(nint obj);

    [LibraryImport(Library)]
    public static partial nint bpf_object__btf(nint obj);

    [LibraryImport(Library)]
    public static partial nint bpf_object__next_map(nint obj, nint previousMap);

    [LibraryImport(Library)]
    public static partial nint bpf_object__find_program_by_name(nint obj, [MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    // ---- maps of an object ----------------------------------------------------------------

    [LibraryImport(Library)]
    public static partial byte* bpf_map__name(nint map);

    [LibraryImport(Library)]
    public static partial int bpf_map__fd(nint map);

    [LibraryImport(Library)]
    public static partial int bpf_map__reuse_fd(nint map, int fd);

    [LibraryImport(Library)]
    public static partial uint bpf_map__type(nint map);

    [LibraryImport(Library)]
    public static partial uint bpf_map__key_size(nint map);

    [LibraryImport(Library)]
    public static partial uint bpf_map__value_size(nint map);

    [LibraryImport(Library)]
    public static partial uint bpf_map__max_entries(nint map);

    [LibraryImport(Library)]
    public static partial int bpf_map__set_max_entries(nint map, uint maxEntries);

    [LibraryImport(Library)]
    public static partial uint bpf_map__map_flags(nint map);

    [LibraryImport(Library)]
    public static partial int bpf_map__pin(nint map, [MarshalAs(UnmanagedType.LPUTF8Str)] string path);

    // ---- programs of an object ------------------------------------------------------------

    [LibraryImport(Library)]
    public static partial int bpf_program__fd(nint program);

    // ---- low-level syscall wrappers -------------------------------------------------------

    [LibraryImport(Library)]
    public static partial int bpf_obj_get([MarshalAs(UnmanagedType.LPUTF8Str)] string path);

    [LibraryImport(Library)]
    public static partial int bpf_obj_pin(int fd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path);

    [LibraryImport(Library)]
    public static partial int bpf_obj_get_info_by_fd(int fd, void* info, uint* infoLength);

    [LibraryImport(Library)]
    public static partial int bpf_map_create(uint mapType, [MarshalAs(UnmanagedType.LPUTF8Str)] string? name,
        uint keySize, uint valueSize, uint maxEntries, void* opts);

    [LibraryImport(Library)]
    public static partial int bpf_map_lookup_elem(int fd, void* key, void* value);

    [LibraryImport(Library)]
    public static partial int bpf_map_update_elem(int fd, void* key, void* value, ulong flags);

    [LibraryImport(Library)]
    public static partial int bpf_map_delete_elem(int fd, void* key);

    [LibraryImport(Library)]
    public static partial int bpf_map_get_next_key(int fd, void* key, void* nextKey);

    [LibraryImport(Library)]
    public static partial int bpf_map_update_batch(int fd, void* keys, void* values, uint* count, BpfMapBatchOpts* opts);

    [LibraryImport(Library)]
    public static partial int bpf_map_delete_batch(int fd, void* keys, uint* count, BpfMapBatchOpts* opts);

    /// <summary>BPF_MAP_LOOKUP_BATCH: in_batch null starts at the beginning; -ENOENT marks the end (count holds the last entries).</summary>
    [LibraryImport(Library)]
    public static partial int bpf_map_lookup_batch(int fd, void* inBatch, void* outBatch, void* keys, void* values, uint* count, BpfMapBatchOpts* opts);

    [LibraryImport(Library)]
    public static partial int bpf_prog_test_run_opts(int programFd, BpfTestRunOpts* opts);

    // ---- links (cgroup attachments) -------------------------------------------------------

    /// <summary>BPF_LINK_CREATE; opts may be null. Returns the link fd or a negative errno.</summary>
    [LibraryImport(Library)]
    public static partial int bpf_link_create(int programFd, int targetFd, uint attachType, void* opts);

    /// <summary>BPF_LINK_UPDATE: swaps the link's program atomically; opts may be null (no old-program check).</summary>
    [LibraryImport(Library)]
    public static partial int bpf_link_update(int linkFd, int newProgramFd, void* opts);

    /// <summary>BPF_LINK_DETACH: detaches the link for every holder of it (fds and pins stay valid, defunct).</summary>
    [LibraryImport(Library)]
    public static partial int bpf_link_detach(int linkFd);

    /// <summary>BPF_ITER_CREATE: a readable fd that runs the iterator link's program, in the caller's network namespace for socket iterators.</summary>
    [LibraryImport(Library)]
    public static partial int bpf_iter_create(int linkFd);

    // ---- BTF ------------------------------------------------------------------------------

    [LibraryImport(Library)]
    public static partial int btf__find_by_name_kind(nint btf, [MarshalAs(UnmanagedType.LPUTF8Str)] string name, uint kind);

    [LibraryImport(Library)]
    public static partial BtfType* btf__type_by_id(nint btf, uint typeId);

    [LibraryImport(Library)]
    public static partial byte* btf__name_by_offset(nint btf, uint offset);

    [LibraryImport(Library)]
    public static partial long btf__resolve_size(nint btf, uint typeId);

    // ---- misc -----------------------------------------------------------------------------

    [LibraryImport(Library)]
    public static partial int libbpf_num_possible_cpus();

    [LibraryImport(Library)]
    public static partial nint libbpf_set_print(delegate* unmanaged[Cdecl]<int, byte*, nint, int> printFunction);

    [LibraryImport(Library)]
    public static partial int libbpf_strerror(int err, byte* buffer, nuint size);
}

/// <summary>
/// The leading part of <c>struct bpf_object_open_opts</c> (libbpf.h). libbpf accepts a shorter
/// struct: <c>sz</c> tells it which fields we know; the rest count as zero.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct BpfObjectOpenOpts
{
    public nuint Size;
    public byte* ObjectName;
}

/// <summary><c>struct bpf_map_batch_opts { size_t sz; __u64 elem_flags; __u64 flags; }</c> (bpf.h).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct BpfMapBatchOpts
{
    public nuint Size;
    public ulong ElementFlags;
    public ulong Flags;
}

/// <summary>
/// <c>struct bpf_test_run_opts</c> (bpf.h, libbpf 1.1; 80 bytes on 64-bit):
/// <code>
/// size_t sz; const void *data_in; void *data_out; __u32 data_size_in; __u32 data_size_out;
/// const void *ctx_in; void *ctx_out; __u32 ctx_size_in; __u32 ctx_size_out;
/// __u32 retval; int repeat; __u32 duration; __u32 flags; __u32 cpu; __u32 batch_size;
/// </code>
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct BpfTestRunOpts
{
    public nuint Size;
    public void* DataIn;
    public void* DataOut;
    public uint DataSizeIn;
    public uint DataSizeOut;
    public void* ContextIn;
    public void* ContextOut;
    public uint ContextSizeIn;
    public uint ContextSizeOut;
    public uint ReturnValue;
    public int Repeat;
    public uint DurationNs;
    public uint Flags;
    public uint Cpu;
    public uint BatchSize;
}

/// <summary>
/// The leading fields of the kernel's <c>struct bpf_map_info</c> (linux/bpf.h). The kernel fills
/// min(its size, ours), so a prefix is enough.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct BpfMapInfo
{
    public uint Type;
    public uint Id;
    public uint KeySize;
    public uint ValueSize;
    public uint MaxEntries;
    public uint MapFlags;
    public fixed byte Name[16];
}

/// <summary>The leading fields of the kernel's <c>struct bpf_prog_info</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct BpfProgInfo
{
    public uint Type;
    public uint Id;
    public fixed byte Tag[8];
}

/// <summary>
/// The leading fields of the kernel's <c>struct bpf_link_info</c> with its cgroup member:
/// <code>
/// struct bpf_link_info { __u32 type; __u32 id; __u32 prog_id;
///                        union { ... struct { __u64 cgroup_id; __u32 attach_type; } cgroup; ... }; };
/// </code>
/// The union holds __u64 members, so it starts at offset 16. The kernel fills min(its size, ours).
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 32)]
internal struct BpfLinkInfo
{
    [FieldOffset(0)] public uint Type;
    [FieldOffset(4)] public uint Id;
    [FieldOffset(8)] public uint ProgramId;
    [FieldOffset(16)] public ulong CgroupId;
    [FieldOffset(24)] public uint AttachType;
}

/// <summary>Kernel link types used here (linux/bpf.h enum bpf_link_type).</summary>
internal static class BpfLinkType
{
    public const uint Cgroup = 3;
}

/// <summary>
/// <c>struct btf_type { __u32 name_off; __u32 info; union { __u32 size; __u32 type; }; }</c>
/// (linux/btf.h), followed in memory by kind-specific records (btf_member, btf_enum, ...).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct BtfType
{
    public uint NameOffset;
    public uint Info;
    public uint SizeOrType;

    public uint Kind => (Info >> 24) & 0x1f;
    public int Vlen => (int)(Info & 0xffff);
    public bool KindFlag => (Info >> 31) != 0;
}

/// <summary>BTF kinds used here (linux/btf.h BTF_KIND_*).</summary>
internal static class BtfKind
{
    public const uint Struct = 4;
    public const uint Enum = 6;
    public const uint Enum64 = 19;
}

/// <summary>Kernel map types used here (linux/bpf.h enum bpf_map_type).</summary>
internal static class BpfMapType
{
    public const uint Hash = 1;
    public const uint Array = 2;
    public const uint PerCpuHash = 5;
    public const uint PerCpuArray = 6;
    public const uint LruHash = 9;
    public const uint LruPerCpuHash = 10;

    public static bool IsPerCpu(uint type) => type is PerCpuHash or PerCpuArray or LruPerCpuHash;

    public static bool IsArray(uint type) => type is Array or PerCpuArray;

    public static string Name(uint type) => type switch
    {
        Hash => "hash",
        Array => "array",
        PerCpuHash => "percpu_hash",
        PerCpuArray => "percpu_array",
        LruHash => "lru_hash",
        LruPerCpuHash => "lru_percpu_hash",
        _ => $"type {type}",
    };
}
