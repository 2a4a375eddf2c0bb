using ProxyReplacement.Dataplane.Interop;
using ProxyReplacement.Dataplane.Maps;

namespace ProxyReplacement.Dataplane.Loading;

/// <summary>A pinned map replaced by a map of another size at load: what was carried over.</summary>
/// <param name="Copied">Entries copied at load (the old map's entries then).</param>
/// <param name="NotCopied">Entries that did not fit the new map (plain hash maps: E2BIG; an LRU map evicts instead, so 0 there).</param>
/// <param name="CaughtUp">Entries the old map gained between the copy and <see cref="CoreDataplane.FinishResize"/>, copied then.</param>
public sealed record ResizedMap(string Name, uint OldMaxEntries, uint NewMaxEntries, int Copied, int NotCopied, int CaughtUp = 0);

/// <summary>
/// Live resize of a pinned map whose layout differs from the wanted one only in max_entries (a changed
/// <c>--*-map-size</c>): instead of refusing, the loader lets libbpf create the map at the new size, loads the
/// programs on it, copies the old map's entries into it (BPF_MAP_LOOKUP_BATCH / BPF_MAP_UPDATE_BATCH), and pins it
/// in place of the old one (pinned beside it, then renamed over it: the pin path never disappears). The old map stays
/// alive while the programs attached before the restart use it; after the daemon has swapped the programs
/// (<see cref="CoreDataplane.FinishResize"/>) the entries it gained meanwhile are copied too (those the new map does
/// not hold yet) and it is released. Only hash and LRU hash maps are migrated (every sized map of the core is one);
/// any other difference (type, key or value size, flags) still refuses with <see cref="MapLayoutMismatchException"/>.
/// </summary>
internal static unsafe class MapResize
{
    private const int Batch = 4096;

    /// <summary>Whether <paramref name="actual"/> can be migrated into <paramref name="wanted"/>.</summary>
    public static bool CanMigrate(BpfMapLayout actual, BpfMapLayout wanted) =>
        actual.Type is BpfMapType.Hash or BpfMapType.LruHash &&
        actual with { MaxEntries = wanted.MaxEntries } == wanted && actual.MaxEntries != wanted.MaxEntries;

    /// <summary>
    /// Copies every entry of <paramref name="fromFd"/> into <paramref name="toFd"/> (same key and value sizes).
    /// <paramref name="onlyMissing"/>: BPF_NOEXIST, entries the target already holds are kept. Returns (copied, did not fit).
    /// </summary>
    public static (int Copied, int NotCopied) Copy(int fromFd, int toFd, BpfMapLayout layout, bool onlyMissing, string name)
    {
        var keySize = (int)layout.KeySize;
        var valueSize = (int)layout.ValueSize;
        var keys = new byte[Batch * keySize];
        var values = new byte[Batch * valueSize];
        var readOpts = new BpfMapBatchOpts { Size = (nuint)sizeof(BpfMapBatchOpts) };
        var cursorIn = stackalloc byte[8];
        var cursorOut = stackalloc byte[8];
        int copied = 0, notCopied = 0;
        var first = true;
        fixed (byte* k = keys)
        fixed (byte* v = values)
        {
            while (true)
            {
                var count = (uint)Batch;
                var rc = LibBpf.bpf_map_lookup_batch(fromFd, first ? null : cursorIn, cursorOut, k, v, &count, &readOpts);
                if (rc < 0 && rc != -Errno.ENOENT)
                    throw new BpfException($"reading map {name} to migrate it", -rc);
                var (written, full) = Write(toFd, k, v, (int)count, keySize, valueSize, onlyMissing, name);
                copied += written;
                notCopied += full;
                if (rc == -Errno.ENOENT || count == 0)
                    return (copied, notCopied);
                Buffer.MemoryCopy(cursorOut, cursorIn, 8, 8);
                first = false;
            }
        }
    }

    private static (int Written, int Full) Write(int fd, byte* keys, byte* values, int count, int keySize, int valueSize, bool onlyMissing, string name)
    {
        int written = 0, full = 0;
        if (onlyMissing)
        {
            // The batch command takes no BPF_NOEXIST (EINVAL): one update per entry.
            for (var i = 0; i < count; i++)
            {
                var rc = LibBpf.bpf_map_update_elem(fd, keys + i * keySize, values + i * valueSize, (ulong)MapUpdateMode.NoExist);
                if (rc == 0)
                    written++;
                else if (rc == -Errno.E2BIG || rc == -Errno.ENOSPC)
                    full++;
                else if (rc != -Errno.EEXIST)
                    throw new BpfException($"writing migrated entries into map {name}", -rc);
            }
            return (written, full);
        }
        var opts = new BpfMapBatchOpts { Size = (nuint)sizeof(BpfMapBatchOpts) };
        var done = 0;
        while (done < count)
        {
            var n = (uint)(count - done);
            var rc = LibBpf.bpf_map_update_batch(fd, keys + done * keySize, values + done * valueSize, &n, &opts);
            written += (int)Math.Min(n, (uint)(count - done));
            if (rc == 0)
                return (written, full);
            // The batch stopped at entry n: skip it when it exists already (NOEXIST) or does not fit (E2BIG), else fail.
            if (rc == -Errno.EEXIST || rc == -Errno.E2BIG || rc == -Errno.ENOSPC)
            {
                if (rc != -Errno.EEXIST)
                    full++;
                done += (int)n + 1;
                continue;
            }
            throw new BpfException($"writing migrated entries into map {name}", -rc);
        }
        return (written, full);
    }

    /// <summary>Pins <paramref name="map"/> at <paramref name="path"/> in place of what is pinned there: beside it first, then renamed over it.</summary>
    public static void Repin(nint map, string path, string name)
    {
        var staging = path + "_resizing"; // bpffs refuses names with a dot (EPERM)
        if (File.Exists(staging))
            File.Delete(staging); // left by a start that died here
        using (var log = LibBpfLog.Begin())
        {
            var rc = LibBpf.bpf_map__pin(map, staging);
            if (rc < 0)
                throw new BpfException($"pinning resized map {name} at {staging}", -rc, log.Text);
        }
        try
        {
            File.Move(staging, path, overwrite: true); // rename(2): bpffs replaces the old pin atomically
        }
        catch
        {
            File.Delete(staging);
            throw;
        }
    }
}
