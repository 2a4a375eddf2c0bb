using ProxyReplacement.Dataplane.Interop;
using ProxyReplacement.Dataplane.Programs;

namespace ProxyReplacement.Dataplane.Loading;

/// <summary>
/// A bpf_object loaded into the kernel, with the names of the maps adopted from pins and those
/// pinned by this load. Disposing closes the object (its program and map fds); pins stay.
/// </summary>
internal sealed class LoadedBpfObject : IDisposable
{
    private readonly BpfObjectHandle _object;
    private readonly Dictionary<string, nint> _maps;

    public LoadedBpfObject(BpfObjectHandle obj, Dictionary<string, nint> maps, IReadOnlySet<string> adopted, IReadOnlySet<string> pinned)
    {
        _object = obj;
        _maps = maps;
        AdoptedMaps = adopted;
        PinnedMaps = pinned;
    }

    public IReadOnlySet<string> AdoptedMaps { get; }

    /// <summary>Pinned maps of another size that this load replaced, with what was copied (<see cref="MapResize"/>).</summary>
    public IReadOnlyList<ResizedMap> Resized { get; init; } = [];

    /// <summary>
    /// Derived maps (<see cref="BpfObjectSpec.DerivedMaps"/>) pinned at another size that this load replaced by an empty map
    /// at the new size (nothing copied: <see cref="ResizedMap.Copied"/> is 0).
    /// </summary>
    public IReadOnlyList<ResizedMap> Recreated { get; init; } = [];

    /// <summary>The old maps of <see cref="Resized"/>, kept open until <see cref="FinishResize"/>.</summary>
    internal Dictionary<string, (BpfFdHandle Old, Maps.BpfMapLayout Layout)> ResizeSources { get; init; } = new();

    /// <summary>
    /// Copies into each resized map the entries its old map gained since the load (programs attached before the
    /// restart kept writing there until they were replaced), keeping what the new map holds; then releases the old maps.
    /// </summary>
    public IReadOnlyList<ResizedMap> FinishResize()
    {
        var finished = new List<ResizedMap>();
        foreach (var resized in Resized)
        {
            if (!ResizeSources.Remove(resized.Name, out var source))
                continue;
            using (source.Old)
            {
                var (caughtUp, _) = MapResize.Copy(source.Old.Fd, LibBpf.bpf_map__fd(_maps[resized.Name]), source.Layout, onlyMissing: true, resized.Name);
                finished.Add(resized with { CaughtUp = caughtUp });
            }
        }
        return finished;
    }

    /// <summary>Maps this load created and pinned (empty without a pin root).</summary>
    public IReadOnlySet<string> PinnedMaps { get; }

    /// <summary>A dup of a map's fd, owned by the caller, so the map outlives this object if needed.</summary>
    public BpfFdHandle DuplicateMapFd(string name)
    {
        if (!_maps.TryGetValue(name, out var map))
            throw new BpfException($"the BPF object has no map {name} (has: {string.Join(", ", _maps.Keys)})", Errno.ENOENT);
        return BpfFdHandle.Duplicate(LibBpf.bpf_map__fd(map), $"map {name}");
    }

    /// <summary>
    /// The fds of the maps others may share (not libbpf's internal .rodata/.bss), by name; valid
    /// while this object is alive.
    /// </summary>
    public IReadOnlyDictionary<string, int> ShareableMapFds() =>
        _maps.Where(pair => PinRoot.IsPinnable(pair.Key)).ToDictionary(pair => pair.Key, pair => LibBpf.bpf_map__fd(pair.Value), StringComparer.Ordinal);

    public BpfProgram Program(string name)
    {
        var program = LibBpf.bpf_object__find_program_by_name(_object.Pointer, name);
        if (program == 0)
            throw new BpfException($"the BPF object has no program {name}", Errno.ENOENT);
        var fd = LibBpf.bpf_program__fd(program);
        if (fd < 0)
            throw new BpfException($"program {name} is not loaded", -fd);
        return new BpfProgram(name, fd, BpfObjectInfo.ProgramId(fd, $"program {name}"));
    }

    public void Dispose()
    {
        foreach (var (old, _) in ResizeSources.Values)
            old.Dispose();
        ResizeSources.Clear();
        _object.Dispose();
    }
}
