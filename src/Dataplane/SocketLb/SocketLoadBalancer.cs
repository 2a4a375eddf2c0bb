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

    private SocketLoadBalancer(LoadedBpfObject loaded, LoadedVariant variant)
    {
        _object = loaded;
        Variant = variant;
        Programs = SocketHooks.All.ToDictionary(hook => hook, hook => loaded.Program(SocketHooks.ProgramName(hook)));
    }

    /// <summary>The loaded program of each hook.</summary>
    public IReadOnlyDictionary<SocketHook, BpfProgram> Programs { get; }

    /// <summary>Which build of sock_lb.bpf.o was loaded, and why. The compat one refuses with EPERM (<see cref="RefusalErrno"/>).</summary>
    public LoadedVariant Variant { get; }

    /// <summary>
    /// The errno of a connect()/sendmsg() the hooks refuse (a Service without backends, an unclaimed Service
    /// address): ECONNREFUSED, or EPERM from the compat build, on kernels without bpf_set_retval (before 5.18).
    /// </summary>
    public int RefusalErrno => Variant.Variant == DataplaneVariant.Compat ? Errno.EPERM : Errno.ECONNREFUSED;

    /// <summary>
    /// Loads the socket programs on <paramref name="core"/>'s maps. <paramref name="core"/> must stay loaded
    /// meanwhile. <paramref name="variant"/>: the default build, or the compat one where the kernel lacks
    /// bpf_set_retval (<see cref="DataplaneVariant.Auto"/>: probed, as for the core object). Either fails on
    /// a kernel before 5.8 (no getpeername4 hook); the TC path still serves every socket then.
    /// </summary>
    public static SocketLoadBalancer Load(CoreDataplane core, DataplaneVariant variant = DataplaneVariant.Auto)
    {
        ArgumentNullException.ThrowIfNull(core);
        var (loaded, chosen) = VariantLoader.Load(variant, ObjectFile,
            v => LoadObject(EmbeddedObjects.Read(DataplaneVariants.ObjectFile(ObjectFile, v)), "sock_lb", core),
            VariantProbe.WhySocketCompat);
        try
        {
            return new SocketLoadBalancer(loaded, chosen);
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
