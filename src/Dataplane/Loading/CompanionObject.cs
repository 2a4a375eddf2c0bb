using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.Dataplane.Programs;

namespace ProxyReplacement.Dataplane.Loading;

/// <summary>
/// Another BPF object loaded on a <see cref="CoreDataplane"/>'s maps, for tools rather than the daemon (the benchmark
/// harness's bench-only programs): every map it declares is one of the core's, or one of its own maps (created for it,
/// unpinned, gone with it). Nothing is pinned or attached.
/// </summary>
public sealed class CompanionObject : IDisposable
{
    private readonly LoadedBpfObject _loaded;

    private CompanionObject(LoadedBpfObject loaded) => _loaded = loaded;

    /// <param name="ownMaps">The maps the object declares besides the core's.</param>
    public static CompanionObject Load(CoreDataplane core, byte[] elf, string objectName, IReadOnlySet<string> ownMaps)
    {
        ArgumentNullException.ThrowIfNull(core);
        return new(BpfObjectLoader.Load(new BpfObjectSpec(elf, objectName, new Dictionary<string, uint>(), PinRoot: null,
            core.ShareableMapFds(), ownMaps)));
    }

    public BpfProgram Program(string name) => _loaded.Program(name);

    /// <summary>A map of the object (its own or a shared one), typed; the caller disposes it.</summary>
    public BpfMap<TKey, TValue> Map<TKey, TValue>(string name)
        where TKey : unmanaged, IEquatable<TKey> where TValue : unmanaged =>
        new(name, _loaded.DuplicateMapFd(name));

    /// <summary>A per-CPU array of the object; the caller disposes it.</summary>
    public BpfPerCpuArray<T> PerCpuArray<T>(string name) where T : unmanaged => new(name, _loaded.DuplicateMapFd(name));

    public void Dispose() => _loaded.Dispose();
}
