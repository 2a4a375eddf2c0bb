using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Programs;

namespace ProxyReplacement.Dataplane.SocketLb;

/// <summary>
/// Connect-time load balancing: the embedded sock_lb.bpf.o loaded on the maps of a loaded
/// <see cref="CoreDataplane"/> (the same map objects in the kernel as the TC programs use; no pin
/// root needed), ready to attach to a cgroup v2 directory. Which sockets it translates is
/// <c>pr_config.sock_lb_mode</c> (<see cref="CoreDataplane.SetSocketLbMode"/>), read per call.
/// <para>Use:</para>
/// <code>
/// using var core = CoreDataplane.Load(new DataplaneOptions());
/// core.SetSocketLbMode(SocketLbMode.Enabled);
/// using var socketLb = SocketLoadBalancer.Load(core);
/// using var hooks = socketLb.Attach("/sys/fs/cgroup/unified/my-test");  // Dispose detaches
/// </code>
/// The daemon pins its links instead (<see cref="PinnedSocketHooks"/>), so they outlive it.
/// Disposing this closes the program fds; attached links keep their programs alive.
/// </summary>
public sealed class SocketLoadBalancer : IDisposable
{
    /// <summary>The embedded object (resource <c>bpf/sock_lb.bpf.o</c>).</summary>
    public const string ObjectFile = "sock_lb.bpf.o";

    private readonly LoadedBpfObject _object;
    private bool _disposed;

    private SocketLoadBalancer(LoadedBpfObject loaded)
    {
        _object = loaded;
        Programs = SocketHooks.All.ToDictionary(hook => hook, hook => loaded.Program(SocketHooks.ProgramName(hook)));
    }

    /// <summary>The loaded program of each hook.</summary>
    public IReadOnlyDictionary<SocketHook, BpfProgram> Programs { get; }

    /// <summary>Loads the socket programs on <paramref name="core"/>'s maps. <paramref name="core"/> must stay loaded meanwhile.</summary>
    public static SocketLoadBalancer Load(CoreDataplane core)
    {
        ArgumentNullException.ThrowIfNull(core);
        var loaded = LoadObject(EmbeddedObjects.Read(ObjectFile), "sock_lb", core);
        try
        {
            return new SocketLoadBalancer(loaded);
        }
        catch
        {
            loaded.Dispose();
            throw;
        }
    }

    /// <summary>Loads another object (e.g. a test shim) on <paramref name="core"/>'s maps; every map it declares must be a core map.</summary>
    internal static LoadedBpfObject LoadObject(byte[] elf, string name, CoreDataplane core) =>
        BpfObjectLoader.Load(new BpfObjectSpec(elf, name, new Dictionary<string, uint>(), PinRoot: null, core.ShareableMapFds()));

    /// <summary>
    /// Attaches every hook to <paramref name="cgroupPath"/> with unpinned links: they last until the
    /// returned attachment is disposed (or this process exits). Attaches all or nothing.
    /// </summary>
    public CgroupAttachment Attach(string cgroupPath)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var cgroup = Cgroup.Open(cgroupPath);
        var links = new Dictionary<SocketHook, CgroupLink>();
        try
        {
            foreach (var hook in SocketHooks.All)
                links[hook] = CgroupLink.Create(Programs[hook], cgroup, cgroupPath, hook);
            return new CgroupAttachment(cgroupPath, Cgroup.Id(cgroupPath), links);
        }
        catch
        {
            foreach (var link in links.Values)
                link.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _object.Dispose();
    }
}
