using System.Runtime.InteropServices;
using ProxyReplacement.Dataplane.Interop;
using ProxyReplacement.Dataplane.Maps;

namespace ProxyReplacement.Dataplane.Loading;

/// <summary>What to load: an ELF image, map sizes to apply, and where maps are pinned.</summary>
/// <param name="Elf">The object file bytes.</param>
/// <param name="ObjectName">libbpf's object name (used in its messages).</param>
/// <param name="MaxEntries">max_entries per map name, applied before load; others keep the object's.</param>
/// <param name="PinRoot">A bpffs directory, or null for no pinning or adoption.</param>
/// <param name="SharedMapFds">
/// For an object that works on another object's maps (the socket hooks on the core's): map name ->
/// the fd of the already loaded map to use. When given, every map of the object (but libbpf's
/// internal ones) must be in it, or in <paramref name="OwnMaps"/>: such an object pins nothing.
/// </param>
/// <param name="OwnMaps">
/// With <paramref name="SharedMapFds"/>: the maps the object creates for itself (unpinned, gone with the object),
/// e.g. the doomed-target map of sock_destroy.bpf.o.
/// </param>
/// <param name="DerivedMaps">
/// Maps whose contents the control plane derives and rewrites in full (the ClusterIP fast path, <c>pr_nat_direct4</c>): a
/// pinned one whose max_entries differs from the wanted size is replaced by a new, empty map at that size
/// (<see cref="LoadedBpfObject.Recreated"/>) instead of being migrated or refused: its entries would be of the old
/// size's slots.
/// </param>
internal sealed record BpfObjectSpec(byte[] Elf, string ObjectName, IReadOnlyDictionary<string, uint> MaxEntries, string? PinRoot,
    IReadOnlyDictionary<string, int>? SharedMapFds = null, IReadOnlySet<string>? OwnMaps = null, IReadOnlySet<string>? DerivedMaps = null);

/// <summary>
/// Opens, sizes, adopts pinned maps, loads and pins. The flow:
/// <list type="number">
/// <item>bpf_object__open_mem; bpf_map__set_max_entries for each sized map.</item>
/// <item>With a pin root, for every pin that exists under one of the object's map names: bpf_obj_get,
/// compare the kernel's layout with what the object wants; equal: bpf_map__reuse_fd (the
/// programs will use the pinned map, entries and all); different: throw
/// <see cref="MapLayoutMismatchException"/> and touch nothing.</item>
/// <item>bpf_object__load (libbpf prints the verifier log on failure; it ends up in the exception).</item>
/// <item>A derived map (<see cref="BpfObjectSpec.DerivedMaps"/>) pinned at another size: created anew, empty, and pinned in
/// place of the old one after the load, like a resized map but with nothing copied.</item>
/// <item>Pin the maps that were created rather than adopted. If pinning fails, the pins made by
/// this load are removed again so that a failed start leaves no half-pinned set.</item>
/// </list>
/// </summary>
internal static unsafe class BpfObjectLoader
{
    public static LoadedBpfObject Load(BpfObjectSpec spec)
    {
        var obj = BpfObjectHandle.Open(spec.Elf, spec.ObjectName);
        try
        {
            var maps = MapsOf(obj.Pointer);
            foreach (var (name, size) in spec.MaxEntries)
            {
                if (!maps.TryGetValue(name, out var map))
                    throw new BpfException($"cannot size map {name}: the object {spec.ObjectName} has no such map", Errno.ENOENT);
                var rc = LibBpf.bpf_map__set_max_entries(map, size);
                if (rc < 0)
                    throw new BpfException($"setting max_entries of map {name} to {size}", -rc);
            }

            if (spec.SharedMapFds is not null)
                ReuseShared(spec, maps);

            var adopted = new HashSet<string>(StringComparer.Ordinal);
            // Pinned maps of another size only: migrated into the new map after the load (MapResize).
            var resizing = new Dictionary<string, (BpfFdHandle Old, BpfMapLayout Layout)>(StringComparer.Ordinal);
            // Derived maps pinned at another size: recreated empty (their old size's entries are of no use).
            var recreating = new Dictionary<string, BpfMapLayout>(StringComparer.Ordinal);
            if (spec.PinRoot is not null && spec.SharedMapFds is null)
            {
                PinRoot.Prepare(spec.PinRoot);
                try
                {
                    foreach (var (name, map) in maps)
                        if (PinRoot.IsPinnable(name) && AdoptPinned(spec.PinRoot, name, map, resizing, spec.DerivedMaps?.Contains(name) == true ? recreating : null))
                            adopted.Add(name);
                }
                catch
                {
                    foreach (var (old, _) in resizing.Values)
                        old.Dispose();
                    throw;
                }
            }

            var resized = new List<ResizedMap>();
            try
            {
                using (var log = LibBpfLog.Begin())
                {
                    var rc = LibBpf.bpf_object__load(obj.Pointer);
                    if (rc < 0)
                        throw new BpfException($"loading BPF object {spec.ObjectName} into the kernel", -rc, log.Text);
                }
                // Copy before any pin moves: a failure here leaves the old pins as they were.
                foreach (var (name, (old, layout)) in resizing)
                {
                    var (copied, notCopied) = MapResize.Copy(old.Fd, LibBpf.bpf_map__fd(maps[name]), layout, onlyMissing: false, name);
                    resized.Add(new ResizedMap(name, layout.MaxEntries, LibBpf.bpf_map__max_entries(maps[name]), copied, notCopied));
                }
                foreach (var name in resizing.Keys.Concat(recreating.Keys))
                    MapResize.Repin(maps[name], PinRoot.PathOf(spec.PinRoot!, name), name);
            }
            catch
            {
                foreach (var (old, _) in resizing.Values)
                    old.Dispose();
                throw;
            }

            var pinned = spec.PinRoot is null || spec.SharedMapFds is not null
                ? new HashSet<string>()
                : PinCreated(spec.PinRoot, maps, adopted.Union(resizing.Keys).Union(recreating.Keys).ToHashSet(StringComparer.Ordinal));
            return new LoadedBpfObject(obj, maps, adopted, pinned)
            {
                Resized = resized,
                Recreated = recreating.Select(pair => new ResizedMap(pair.Key, pair.Value.MaxEntries, LibBpf.bpf_map__max_entries(maps[pair.Key]), 0, 0))
                    .ToList(),
                ResizeSources = resizing.ToDictionary(pair => pair.Key, pair => pair.Value, StringComparer.Ordinal),
            };
        }
        catch
        {
            obj.Dispose();
            throw;
        }
    }

    /// <summary>The object's maps by name (including libbpf's internal .rodata/.bss maps).</summary>
    public static Dictionary<string, nint> MapsOf(nint obj)
    {
        var maps = new Dictionary<string, nint>(StringComparer.Ordinal);
        for (var map = LibBpf.bpf_object__next_map(obj, 0); map != 0; map = LibBpf.bpf_object__next_map(obj, map))
            maps[Marshal.PtrToStringUTF8((nint)LibBpf.bpf_map__name(map)) ?? string.Empty] = map;
        return maps;
    }

    /// <summary>The layout the object asks for (after sizing).</summary>
    public static BpfMapLayout WantedLayout(nint map) => new(
        LibBpf.bpf_map__type(map), LibBpf.bpf_map__key_size(map), LibBpf.bpf_map__value_size(map),
        LibBpf.bpf_map__max_entries(map), LibBpf.bpf_map__map_flags(map));

    private static void ReuseShared(BpfObjectSpec spec, Dictionary<string, nint> maps)
    {
        foreach (var (name, map) in maps)
        {
            if (!PinRoot.IsPinnable(name) || spec.OwnMaps?.Contains(name) == true)
                continue;
            if (!spec.SharedMapFds!.TryGetValue(name, out var fd))
                throw new BpfException(
                    $"map {name} of {spec.ObjectName} is not one of the shared maps ({string.Join(", ", spec.SharedMapFds.Keys.Order(StringComparer.Ordinal))}); " +
                    "the objects were built from different headers", Errno.EINVAL);
            var (actual, _, _) = BpfObjectInfo.Map(fd, $"shared map {name}");
            var wanted = WantedLayout(map);
            // max_entries is the owner's business (reuse_fd takes the owner's); type and entry sizes must agree.
            if (actual.Type != wanted.Type || actual.KeySize != wanted.KeySize || actual.ValueSize != wanted.ValueSize)
                throw new MapLayoutMismatchException(name, $"(shared from the loaded core, fd {fd})", actual, wanted,
                    "The objects were built from different versions of pr_map_abi.h; rebuild bpf-c.");
            var rc = LibBpf.bpf_map__reuse_fd(map, fd);
            if (rc < 0)
                throw new BpfException($"reusing shared map {name} for {spec.ObjectName}", -rc);
        }
    }

    /// <param name="recreating">For a derived map: where a pin of another size only is recorded (to be replaced by an empty map).</param>
    private static bool AdoptPinned(string root, string name, nint map, Dictionary<string, (BpfFdHandle Old, BpfMapLayout Layout)> resizing,
        Dictionary<string, BpfMapLayout>? recreating)
    {
        var path = PinRoot.PathOf(root, name);
        if (!File.Exists(path))
            return false;
        var fd = LibBpf.bpf_obj_get(path);
        if (fd < 0)
            throw new BpfException($"opening pinned map {path}", -fd);
        var pinned = BpfFdHandle.Own(fd);
        using var closeUnlessResizing = new ClosesUnlessKept(pinned);
        if (!BpfObjectInfo.IsMap(fd))
            throw new BpfException(
                $"{path} is pinned but is not a map; remove it (run the `cleanup` command) so that map {name} can be pinned there",
                Errno.EINVAL);
        var (actual, _, _) = BpfObjectInfo.Map(fd, path);
        var wanted = WantedLayout(map);
        if (recreating is not null && actual.MaxEntries != wanted.MaxEntries && actual with { MaxEntries = wanted.MaxEntries } == wanted)
        {
            // libbpf creates the map at the new size; the old one is closed here and lives on only while old programs use it.
            recreating[name] = actual;
            return false;
        }
        if (MapResize.CanMigrate(actual, wanted))
        {
            // Let libbpf create the map at the new size; its entries are copied in after the load.
            resizing[name] = (pinned, actual);
            closeUnlessResizing.Keep();
            return false;
        }
        if (actual != wanted)
            throw new MapLayoutMismatchException(name, path, actual, wanted,
                "The pinned map was left untouched. It was probably created by another version of the dataplane or with " +
                "other map sizes. Only a different max_entries of a hash map is migrated at start; this difference is not. " +
                "Run the `cleanup` command to remove the old pins (this drops their state, e.g. the NAT " +
                "of established connections), or start with the version that created them.");
        // libbpf keeps its own duplicate of the fd; ours is closed by the using above.
        var rc = LibBpf.bpf_map__reuse_fd(map, fd);
        if (rc < 0)
            throw new BpfException($"reusing pinned map {path} for map {name}", -rc);
        return true;
    }

    private static HashSet<string> PinCreated(string root, Dictionary<string, nint> maps, HashSet<string> adopted)
    {
        var pinned = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, map) in maps)
            {
                if (!PinRoot.IsPinnable(name) || adopted.Contains(name))
                    continue;
                var path = PinRoot.PathOf(root, name);
                using var log = LibBpfLog.Begin();
                var rc = LibBpf.bpf_map__pin(map, path);
                if (rc < 0)
                    throw new BpfException($"pinning map {name} at {path}", -rc, log.Text);
                pinned.Add(name);
            }
            return pinned;
        }
        catch
        {
            foreach (var name in pinned)
                File.Delete(PinRoot.PathOf(root, name));
            throw;
        }
    }

    /// <summary>Disposes the fd at the end of a scope unless <see cref="Keep"/> was called.</summary>
    private sealed class ClosesUnlessKept(BpfFdHandle fd) : IDisposable
    {
        private bool _kept;
        public void Keep() => _kept = true;
        public void Dispose()
        {
            if (!_kept)
                fd.Dispose();
        }
    }
}
