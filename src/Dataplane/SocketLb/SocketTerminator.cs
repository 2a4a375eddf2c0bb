using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Interop;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.Dataplane.Netns;

namespace ProxyReplacement.Dataplane.SocketLb;

/// <summary>A network namespace the terminator could not walk, and why.</summary>
public sealed record SkippedNamespace(string Identity, string Reason, int Errno);

/// <summary>What one <see cref="SocketTerminator.Terminate"/> did.</summary>
/// <param name="Sockets">Every socket an iterator matched, destroyed or not (<see cref="SocketDestroyedRecord4.Result"/>).</param>
/// <param name="Namespaces">The identities of the namespaces walked.</param>
/// <param name="Skipped">The namespaces that could not be entered (the process left, no permission).</param>
public sealed record SocketTerminationRun(IReadOnlyList<SocketDestroyedRecord4> Sockets, IReadOnlyList<string> Namespaces,
    IReadOnlyList<SkippedNamespace> Skipped, TimeSpan Elapsed)
{
    public int Destroyed => Sockets.Count(s => s.Destroyed);
}

/// <summary>
/// Terminates the sockets the socket hooks connected to backends that left their Service: sock_destroy.bpf.o's
/// iterators (iter/tcp, iter/udp) loaded on the core's maps, run in each network namespace asked for with the
/// doomed (frontend, backend) pairs in its map <c>pr_sk_doomed4</c>. A matched socket is destroyed with the kfunc
/// <c>bpf_sock_destroy</c> (Linux 6.5+; the application gets ECONNABORTED and reconnects through the hooks to a
/// live backend). Only sockets that connect4 translated through that very frontend to that backend, and that are
/// still connected to it, match (bpf-c/sock_destroy.bpf.c). The compat build (<see cref="CanDestroy"/> false: a
/// kernel without the kfunc, or forced) finds the same sockets and destroys none: each is reported with
/// <see cref="SocketDestroyedRecord4.Unsupported"/>.
/// <para>A socket iterator walks the namespace of the thread that creates it (BPF_ITER_CREATE), so each run enters
/// the namespaces one after another on a dedicated thread (setns: CAP_SYS_ADMIN), the caller's own namespace
/// first and without setns. The iterator links are made once, at load.</para>
/// </summary>
public sealed unsafe class SocketTerminator : IDisposable
{
    /// <summary>The embedded object (resource <c>bpf/sock_destroy.bpf.o</c>).</summary>
    public const string ObjectFile = "sock_destroy.bpf.o";

    public const string TcpProgram = "pr_sk_destroy_tcp";
    public const string UdpProgram = "pr_sk_destroy_udp";

    /// <summary>The object's own map of doomed (frontend, backend) pairs, filled per run.</summary>
    public const string DoomedMap = "pr_sk_doomed4";

    /// <summary>pr_sk_doomed4's max_entries: a run with more targets walks the namespaces once per this many.</summary>
    public const int DoomedCapacity = 4096;

    /// <summary>The kfunc the default build calls (Linux 6.5).</summary>
    public const string DestroyKfunc = VariantProbe.SocketDestroyKfunc;

    private const int ReadChunk = 4096; // not above the iterator's seq buffer: no object is shown twice
    private const int ESRCH = 3;
    private const int EINTR = 4;
    private const uint TraceIterAttachType = 28; // BPF_TRACE_ITER (linux/bpf.h enum bpf_attach_type)

    private readonly LoadedBpfObject _object;
    private readonly BpfFdHandle _tcpLink;
    private readonly BpfFdHandle _udpLink;
    private readonly Lock _runLock = new();
    private bool _disposed;

    private SocketTerminator(LoadedBpfObject loaded, LoadedVariant variant, BpfMap<SocketDoomedKey4, SocketDoomedValue> doomed,
        BpfFdHandle tcpLink, BpfFdHandle udpLink)
    {
        _object = loaded;
        Variant = variant;
        Doomed = doomed;
        _tcpLink = tcpLink;
        _udpLink = udpLink;
    }

    /// <summary>Which build loaded, and why. The compat one cannot destroy (<see cref="CanDestroy"/>).</summary>
    public LoadedVariant Variant { get; }

    /// <summary>Whether matched sockets are destroyed (the default build) or only found (the compat build).</summary>
    public bool CanDestroy => Variant.Variant == DataplaneVariant.Fast;

    /// <summary>pr_sk_doomed4 (empty between runs).</summary>
    public BpfMap<SocketDoomedKey4, SocketDoomedValue> Doomed { get; }

    /// <summary>
    /// Loads sock_destroy.bpf.o on <paramref name="core"/>'s maps (pr_sk_store4: what the hooks translated) and
    /// creates its iterator links. <see cref="DataplaneVariant.Auto"/>: the default build, or the compat one where the
    /// kernel has no <c>bpf_sock_destroy</c> (libbpf's "not found in kernel or module BTFs"). Any other failure (no
    /// kernel BTF, a kernel before 5.11 without socket iterators or sk storage in tracing programs) is thrown: the
    /// caller degrades.
    /// </summary>
    public static SocketTerminator Load(CoreDataplane core, DataplaneVariant variant = DataplaneVariant.Auto) =>
        Load(core, variant, v => EmbeddedObjects.Read(DataplaneVariants.ObjectFile(ObjectFile, v)), VariantProbe.WhySocketDestroyCompat);

    /// <summary>The same with other object bytes per variant and another probe (tests: a default build whose kfunc is absent).</summary>
    internal static SocketTerminator Load(CoreDataplane core, DataplaneVariant variant, Func<DataplaneVariant, byte[]> elf,
        Func<BpfException, string?> whyCompat)
    {
        ArgumentNullException.ThrowIfNull(core);
        var (loaded, chosen) = VariantLoader.Load(variant, ObjectFile,
            v => BpfObjectLoader.Load(new BpfObjectSpec(elf(v), "sock_destroy", new Dictionary<string, uint> { [DoomedMap] = DoomedCapacity },
                PinRoot: null, core.ShareableMapFds(), new HashSet<string>(StringComparer.Ordinal) { DoomedMap })),
            whyCompat);
        BpfMap<SocketDoomedKey4, SocketDoomedValue>? doomed = null;
        BpfFdHandle? tcp = null;
        try
        {
            doomed = new BpfMap<SocketDoomedKey4, SocketDoomedValue>(DoomedMap, loaded.DuplicateMapFd(DoomedMap));
            tcp = IterLink(loaded, TcpProgram);
            var udp = IterLink(loaded, UdpProgram);
            return new SocketTerminator(loaded, chosen, doomed, tcp, udp);
        }
        catch
        {
            tcp?.Dispose();
            doomed?.Dispose();
            loaded.Dispose();
            throw;
        }
    }

    private static BpfFdHandle IterLink(LoadedBpfObject loaded, string programName)
    {
        var program = loaded.Program(programName);
        using var log = LibBpfLog.Begin();
        var fd = LibBpf.bpf_link_create(program.Fd, 0, TraceIterAttachType, null);
        if (fd < 0)
            throw new BpfException($"creating the iterator link of {programName}", -fd, log.Text);
        return BpfFdHandle.Own(fd);
    }

    /// <summary>
    /// Puts <paramref name="targets"/> into pr_sk_doomed4, runs both iterators in each of <paramref name="namespaces"/>
    /// (opened through one of its pids), and empties the map again. One run at a time.
    /// </summary>
    public SocketTerminationRun Terminate(IReadOnlyCollection<SocketDoomedKey4> targets, IReadOnlyList<CgroupNamespace> namespaces)
    {
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(namespaces);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var started = Stopwatch.GetTimestamp();
        var records = new List<SocketDestroyedRecord4>();
        var walked = new List<string>();
        var skipped = new List<SkippedNamespace>();
        if (targets.Count == 0 || namespaces.Count == 0)
            return new SocketTerminationRun(records, walked, skipped, TimeSpan.Zero);
        lock (_runLock)
        {
            foreach (var chunk in targets.Distinct().Chunk(DoomedCapacity))
            {
                var values = new SocketDoomedValue[chunk.Length];
                Doomed.UpdateBatch(chunk, values);
                try
                {
                    walked.Clear();
                    skipped.Clear();
                    RunInNamespaces(namespaces, records, walked, skipped);
                }
                finally
                {
                    Doomed.DeleteBatch(chunk);
                }
            }
        }
        return new SocketTerminationRun(records, walked.ToList(), skipped.ToList(), Stopwatch.GetElapsedTime(started));
    }

    /// <summary>Runs both iterators in the calling thread's network namespace (tests, and the daemon's own namespace).</summary>
    internal IReadOnlyList<SocketDestroyedRecord4> RunHere()
    {
        var records = new List<SocketDestroyedRecord4>();
        RunIterator(_tcpLink, TcpProgram, records);
        RunIterator(_udpLink, UdpProgram, records);
        return records;
    }

    private void RunInNamespaces(IReadOnlyList<CgroupNamespace> namespaces, List<SocketDestroyedRecord4> records, List<string> walked,
        List<SkippedNamespace> skipped)
    {
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                var own = NetworkNamespace.CurrentIdentity();
                // The thread's own namespace first: it needs no setns (no CAP_SYS_ADMIN), and it cannot come back to it later.
                foreach (var ns in namespaces.OrderBy(ns => ns.Identity == own ? 0 : 1))
                {
                    if (ns.Identity == NetworkNamespace.CurrentIdentity())
                    {
                        records.AddRange(RunHere());
                        walked.Add(ns.Identity);
                        continue;
                    }
                    var (fd, skip) = Open(ns);
                    if (fd is null)
                    {
                        skipped.Add(skip!);
                        continue;
                    }
                    using (fd)
                    {
                        try
                        {
                            NetnsInterop.EnterNetworkNamespace(fd, ns.Identity);
                        }
                        catch (NetworkNamespaceException error)
                        {
                            skipped.Add(new SkippedNamespace(ns.Identity, error.Message, error.Errno));
                            continue;
                        }
                    }
                    records.AddRange(RunHere());
                    walked.Add(ns.Identity);
                }
            }
            catch (Exception error)
            {
                failure = error;
            }
        })
        {
            IsBackground = true,
            Name = "socket terminator",
        };
        thread.Start();
        thread.Join();
        if (failure is not null)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
    }

    /// <summary>Opens the namespace through the first of its pids still alive and still in it.</summary>
    private static (SafeFileHandle? Fd, SkippedNamespace? Skip) Open(CgroupNamespace ns)
    {
        SkippedNamespace? last = null;
        foreach (var pid in ns.Pids)
        {
            SafeFileHandle fd;
            try
            {
                fd = NetnsInterop.OpenNamespace($"/proc/{pid}/ns/net");
            }
            catch (NetworkNamespaceException error)
            {
                last = new SkippedNamespace(ns.Identity, error.Message, error.Errno);
                if (error.Errno is Errno.ENOENT or ESRCH)
                    continue; // exited: try another process of the namespace
                return (null, last);
            }
            // A pid reused by a process elsewhere since the scan: not this namespace.
            if (NetworkNamespace.IdentityOf($"/proc/self/fd/{fd.DangerousGetHandle()}") == ns.Identity)
                return (fd, null);
            fd.Dispose();
        }
        return (null, last ?? new SkippedNamespace(ns.Identity, "no process of the cgroup is in it any more", Errno.ENOENT));
    }

    private static void RunIterator(BpfFdHandle link, string programName, List<SocketDestroyedRecord4> records)
    {
        var fd = LibBpf.bpf_iter_create(link.Fd);
        if (fd < 0)
            throw new BpfException($"creating an iterator of {programName}", -fd);
        using var iterator = BpfFdHandle.Own(fd);
        var output = new List<byte>();
        var buffer = new byte[ReadChunk];
        while (true)
        {
            var n = Libc.Read(iterator.Fd, buffer, out var errno);
            if (n < 0)
            {
                if (errno == EINTR)
                    continue;
                throw new BpfException($"running the iterator {programName}", errno);
            }
            if (n == 0)
                break;
            output.AddRange(buffer.AsSpan(0, (int)n));
        }
        var size = Marshal.SizeOf<SocketDestroyedRecord4>();
        if (output.Count % size != 0)
            throw new BpfException($"the iterator {programName} wrote {output.Count} bytes, not whole records of {size}", Errno.EINVAL);
        records.AddRange(MemoryMarshal.Cast<byte, SocketDestroyedRecord4>(output.ToArray()).ToArray());
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _tcpLink.Dispose();
        _udpLink.Dispose();
        Doomed.Dispose();
        _object.Dispose();
    }
}
