using System.Runtime.CompilerServices;
using ProxyReplacement.Dataplane.Interop;

namespace ProxyReplacement.Dataplane.Maps;

/// <summary>
/// A kernel BPF map (hash, LRU hash or array) with typed keys and values. The key and value
/// types are the blittable mirrors of the ABI structs; their sizes are checked against the
/// kernel's at construction. The map holds its own fd (a dup), so it stays usable after the
/// object it came from is closed, until it is disposed. Thread-safe: every call is one syscall.
/// Per-CPU maps are not accepted (their values are one slot per CPU): see <see cref="BpfPerCpuArray{TValue}"/>.
/// </summary>
public sealed unsafe class BpfMap<TKey, TValue> : IBpfMap<TKey, TValue>, IDisposable
    where TKey : unmanaged, IEquatable<TKey>
    where TValue : unmanaged
{
    // ENOTSUPP (524) is the kernel-internal "no such op" the batch syscalls return for map types
    // without batch support; EINVAL comes from kernels that predate the batch commands.
    private const int KernelENOTSUPP = 524;

    /// <summary>Entries per BPF_MAP_LOOKUP_BATCH call (each hash bucket must fit in one: they hold a handful).</summary>
    private const int ReadBatchSize = 4096;

    private readonly BpfFdHandle _fd;

    /// <summary>Wraps an owned map fd; throws <see cref="MapLayoutMismatchException"/> when the sizes differ.</summary>
    public BpfMap(string name, BpfFdHandle fd)
    {
        _fd = fd;
        Name = name;
        (Layout, Id, _) = BpfObjectInfo.Map(fd.Fd, $"map {name}");
        var expected = Layout with { KeySize = (uint)sizeof(TKey), ValueSize = (uint)sizeof(TValue) };
        if (BpfMapType.IsPerCpu(Layout.Type) || expected != Layout)
        {
            fd.Dispose();
            throw new MapLayoutMismatchException(name, null, Layout, expected,
                $"BpfMap<{typeof(TKey).Name}, {typeof(TValue).Name}> needs a non-per-CPU map with key_size {sizeof(TKey)} " +
                $"and value_size {sizeof(TValue)}: the C# mirror and the C struct disagree, or this is the wrong map.");
        }
    }

    /// <summary>Opens a pinned map (bpf_obj_get) of the given types.</summary>
    public static BpfMap<TKey, TValue> OpenPinned(string pinPath)
    {
        var fd = LibBpf.bpf_obj_get(pinPath);
        if (fd < 0)
            throw new BpfException($"opening pinned map {pinPath}", -fd);
        var handle = BpfFdHandle.Own(fd);
        if (!BpfObjectInfo.IsMap(fd))
        {
            handle.Dispose();
            throw new BpfException($"{pinPath} is pinned but is not a map", Errno.EINVAL);
        }
        return new BpfMap<TKey, TValue>(Path.GetFileName(pinPath), handle);
    }

    public string Name { get; }
    public int MaxEntries => (int)Layout.MaxEntries;

    /// <summary>The kernel layout of the map.</summary>
    public BpfMapLayout Layout { get; }

    /// <summary>The kernel map id (as bpftool shows it).</summary>
    public uint Id { get; }

    /// <summary>The map fd, valid until <see cref="Dispose"/>.</summary>
    public int Fd => _fd.Fd;

    public bool TryLookup(in TKey key, out TValue value)
    {
        TValue result;
        int rc;
        fixed (TKey* k = &key)
            rc = LibBpf.bpf_map_lookup_elem(Fd, k, &result);
        if (rc == -Errno.ENOENT)
        {
            value = default;
            return false;
        }
        if (rc < 0)
            throw new BpfException($"lookup in map {Name}", -rc);
        value = result;
        return true;
    }

    public void Update(in TKey key, in TValue value, MapUpdateMode mode = MapUpdateMode.Any)
    {
        int rc;
        fixed (TKey* k = &key)
        fixed (TValue* v = &value)
            rc = LibBpf.bpf_map_update_elem(Fd, k, v, (ulong)mode);
        if (rc < 0)
            throw UpdateFailure(-rc, mode.ToString());
    }

    public bool Delete(in TKey key)
    {
        int rc;
        fixed (TKey* k = &key)
            rc = LibBpf.bpf_map_delete_elem(Fd, k);
        if (rc == -Errno.ENOENT)
            return false;
        if (rc < 0)
            throw new BpfException($"delete from map {Name}", -rc);
        return true;
    }

    /// <summary>
    /// Every entry, read with BPF_MAP_LOOKUP_BATCH (a few syscalls for the whole map) where the kernel has it for
    /// this map type, else by walking the keys. Not atomic: entries the kernel adds or removes meanwhile may or may
    /// not appear.
    /// </summary>
    public IReadOnlyList<KeyValuePair<TKey, TValue>> ReadAll() => ReadAllBatched(keep: null) ?? ReadAllByKeys();

    /// <inheritdoc />
    public IReadOnlyList<KeyValuePair<TKey, TValue>> ReadWhere(Func<TKey, TValue, bool> keep)
    {
        ArgumentNullException.ThrowIfNull(keep);
        return ReadAllBatched(keep) ?? ReadAllByKeys().Where(entry => keep(entry.Key, entry.Value)).ToList();
    }

    /// <summary>
    /// Null for maps other than (LRU) hash maps and arrays (per-CPU arrays and LPM tries are walked) and when a hash bucket
    /// does not fit a batch or the kernel has no batch lookup. An array's cursor is its next index (the kernel's generic
    /// batch): walking pr_nat_direct4's 262,144 slots key by key took 1.3 s (two syscalls a slot), too slow for every full resync.
    /// </summary>
    private List<KeyValuePair<TKey, TValue>>? ReadAllBatched(Func<TKey, TValue, bool>? keep)
    {
        if (Layout.Type is not (BpfMapType.Hash or BpfMapType.LruHash or BpfMapType.Array))
            return null;
        var capacity = (int)Math.Clamp(Layout.MaxEntries, 1, ReadBatchSize);
        var keys = new TKey[capacity];
        var values = new TValue[capacity];
        var entries = new List<KeyValuePair<TKey, TValue>>();
        var opts = new BpfMapBatchOpts { Size = (nuint)sizeof(BpfMapBatchOpts) };
        // The kernel's cursor between calls: a hash bucket index (a __u32; room for more does no harm).
        const int cursorSize = sizeof(ulong);
        var cursorIn = stackalloc byte[cursorSize];
        var cursorOut = stackalloc byte[cursorSize];
        var first = true;
        fixed (TKey* k = keys)
        fixed (TValue* v = values)
        {
            while (true)
            {
                var count = (uint)capacity;
                var rc = LibBpf.bpf_map_lookup_batch(Fd, first ? null : cursorIn, cursorOut, k, v, &count, &opts);
                if (rc < 0 && rc != -Errno.ENOENT)
                {
                    if ((first && IsBatchUnsupported(-rc)) || rc == -Errno.ENOSPC)
                        return null;
                    throw new BpfException($"batch lookup in map {Name}", -rc);
                }
                for (var i = 0; i < count; i++)
                    if (keep is null || keep(keys[i], values[i]))
                        entries.Add(new KeyValuePair<TKey, TValue>(keys[i], values[i]));
                if (rc == -Errno.ENOENT)
                    return entries; // the end
                if (count == 0)
                    return null; // no progress and no end: not a kernel answer this loop can trust
                Buffer.MemoryCopy(cursorOut, cursorIn, cursorSize, cursorSize);
                first = false;
            }
        }
    }

    /// <summary>
    /// Walks the keys with BPF_MAP_GET_NEXT_KEY, then looks each up. A key deleted under the walk makes a hash map
    /// restart from its first key, hence the de-duplication and the step bound.
    /// </summary>
    private List<KeyValuePair<TKey, TValue>> ReadAllByKeys()
    {
        var keys = new List<TKey>();
        var seen = new HashSet<TKey>();
        var maxSteps = 2L * Layout.MaxEntries + 16;
        TKey current = default, next = default;
        var first = true;
        for (long step = 0; step < maxSteps; step++)
        {
            var rc = first
                ? LibBpf.bpf_map_get_next_key(Fd, null, &next)
                : LibBpf.bpf_map_get_next_key(Fd, &current, &next);
            if (rc == -Errno.ENOENT)
                break;
            if (rc < 0)
                throw new BpfException($"iterating map {Name}", -rc);
            first = false;
            if (seen.Add(next))
                keys.Add(next);
            current = next;
        }

        var entries = new List<KeyValuePair<TKey, TValue>>(keys.Count);
        foreach (var key in keys)
            if (TryLookup(key, out var value))
                entries.Add(new KeyValuePair<TKey, TValue>(key, value));
        return entries;
    }

    /// <summary>
    /// Writes all entries with BPF_MAP_UPDATE_BATCH (BPF_ANY). Where the kernel has no batch
    /// support for this map, falls back to one update per entry from where the batch stopped.
    /// A full map raises <see cref="BpfMapFullException"/>; the entries before the failing one are written.
    /// </summary>
    public void UpdateBatch(ReadOnlySpan<TKey> keys, ReadOnlySpan<TValue> values)
    {
        if (keys.Length != values.Length)
            throw new ArgumentException($"{keys.Length} keys but {values.Length} values");
        if (keys.IsEmpty)
            return;
        var count = (uint)keys.Length;
        var opts = new BpfMapBatchOpts { Size = (nuint)sizeof(BpfMapBatchOpts) };
        int rc;
        fixed (TKey* k = keys)
        fixed (TValue* v = values)
            rc = LibBpf.bpf_map_update_batch(Fd, k, v, &count, &opts);
        if (rc == 0)
            return;
        if (IsBatchUnsupported(-rc))
        {
            // When the kernel rejects the command itself it does not report a count; BPF_ANY
            // updates are idempotent, so simply write everything one by one.
            for (var i = 0; i < keys.Length; i++)
                Update(keys[i], values[i]);
            return;
        }
        throw UpdateFailure(-rc, $"batch, failed at entry {count} of {keys.Length}");
    }

    /// <summary>
    /// Deletes with BPF_MAP_DELETE_BATCH, ignoring absent keys; returns how many were deleted.
    /// The kernel stops a delete batch at the first absent key (ENOENT, count = deleted before it),
    /// so the batch resumes after that key.
    /// </summary>
    public int DeleteBatch(ReadOnlySpan<TKey> keys)
    {
        var deleted = 0;
        var opts = new BpfMapBatchOpts { Size = (nuint)sizeof(BpfMapBatchOpts) };
        var start = 0;
        fixed (TKey* all = keys)
        {
            while (start < keys.Length)
            {
                var requested = (uint)(keys.Length - start);
                var count = requested;
                var rc = LibBpf.bpf_map_delete_batch(Fd, all + start, &count, &opts);
                if (rc == 0)
                    return deleted + (int)count;
                if (rc == -Errno.ENOENT)
                {
                    deleted += (int)count;
                    start += (int)count + 1; // skip the absent key
                    continue;
                }
                if (IsBatchUnsupported(-rc))
                {
                    // A kernel rejecting the command leaves count as we passed it: nothing deleted.
                    if (count >= requested)
                        count = 0;
                    deleted += (int)count;
                    for (var i = start + (int)count; i < keys.Length; i++)
                        if (Delete(keys[i]))
                            deleted++;
                    return deleted;
                }
                throw new BpfException($"batch delete from map {Name} (at key {start + count} of {keys.Length})", -rc);
            }
        }
        return deleted;
    }

    public void Dispose() => _fd.Dispose();

    public override string ToString() => $"{Name} (id {Id}) {Layout}";

    private static bool IsBatchUnsupported(int errno) =>
        errno is Errno.EINVAL or Errno.EOPNOTSUPP or KernelENOTSUPP;

    private BpfException UpdateFailure(int errno, string detail)
    {
        // Hash maps answer E2BIG when full (ENOSPC from some map types); for arrays E2BIG means
        // an index beyond max_entries, which is a caller bug rather than a full map.
        if ((errno == Errno.E2BIG && !BpfMapType.IsArray(Layout.Type)) || errno == Errno.ENOSPC)
            return new BpfMapFullException(Name, MaxEntries);
        return new BpfException($"update of map {Name} ({detail})", errno);
    }
}
