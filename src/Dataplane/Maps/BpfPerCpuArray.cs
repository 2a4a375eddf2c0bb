using System.Runtime.InteropServices;
using ProxyReplacement.Dataplane.Interop;

namespace ProxyReplacement.Dataplane.Maps;

/// <summary>
/// A BPF_MAP_TYPE_PERCPU_ARRAY: each slot holds one value per possible CPU. The syscalls move
/// all CPUs' values at once, each in a slot of value_size rounded up to 8 bytes, for
/// libbpf_num_possible_cpus() CPUs (possible, not online: offline CPUs have slots too).
/// </summary>
public sealed unsafe class BpfPerCpuArray<TValue> : IDisposable
    where TValue : unmanaged
{
    private readonly BpfFdHandle _fd;
    private readonly int _stride;

    public BpfPerCpuArray(string name, BpfFdHandle fd)
    {
        _fd = fd;
        Name = name;
        (Layout, Id, _) = BpfObjectInfo.Map(fd.Fd, $"map {name}");
        var expected = Layout with { Type = BpfMapType.PerCpuArray, KeySize = 4, ValueSize = (uint)sizeof(TValue) };
        if (expected != Layout)
        {
            fd.Dispose();
            throw new MapLayoutMismatchException(name, null, Layout, expected,
                $"BpfPerCpuArray<{typeof(TValue).Name}> needs a per-CPU array with value_size {sizeof(TValue)}.");
        }
        _stride = (sizeof(TValue) + 7) & ~7;
        var cpus = LibBpf.libbpf_num_possible_cpus();
        if (cpus <= 0)
            throw new BpfException("libbpf_num_possible_cpus", -cpus);
        PossibleCpus = cpus;
    }

    /// <summary>Opens a pinned per-CPU array (bpf_obj_get).</summary>
    public static BpfPerCpuArray<TValue> OpenPinned(string pinPath)
    {
        var fd = LibBpf.bpf_obj_get(pinPath);
        if (fd < 0)
            throw new BpfException($"opening pinned map {pinPath}", -fd);
        return new BpfPerCpuArray<TValue>(Path.GetFileName(pinPath), BpfFdHandle.Own(fd));
    }

    public string Name { get; }
    public BpfMapLayout Layout { get; }
    public uint Id { get; }
    public int PossibleCpus { get; }
    public int Slots => (int)Layout.MaxEntries;

    /// <summary>The values of slot <paramref name="index"/>, one per possible CPU.</summary>
    public TValue[] Read(uint index)
    {
        var buffer = new byte[_stride * PossibleCpus];
        int rc;
        fixed (byte* values = buffer)
            rc = LibBpf.bpf_map_lookup_elem(_fd.Fd, &index, values);
        if (rc < 0)
            throw new BpfException($"lookup of slot {index} in per-CPU map {Name}", -rc);
        var result = new TValue[PossibleCpus];
        for (var cpu = 0; cpu < PossibleCpus; cpu++)
            result[cpu] = MemoryMarshal.Read<TValue>(buffer.AsSpan(cpu * _stride));
        return result;
    }

    /// <summary>Writes slot <paramref name="index"/> on every CPU; <paramref name="perCpu"/> has one value per possible CPU.</summary>
    public void Write(uint index, ReadOnlySpan<TValue> perCpu)
    {
        if (perCpu.Length != PossibleCpus)
            throw new ArgumentException($"{perCpu.Length} values for {PossibleCpus} possible CPUs", nameof(perCpu));
        var buffer = new byte[_stride * PossibleCpus];
        for (var cpu = 0; cpu < PossibleCpus; cpu++)
        {
            var value = perCpu[cpu];
            MemoryMarshal.Write(buffer.AsSpan(cpu * _stride), in value);
        }
        int rc;
        fixed (byte* values = buffer)
            rc = LibBpf.bpf_map_update_elem(_fd.Fd, &index, values, (ulong)MapUpdateMode.Any);
        if (rc < 0)
            throw new BpfException($"update of slot {index} in per-CPU map {Name}", -rc);
    }

    /// <summary>Sets slot <paramref name="index"/> to zero on every CPU.</summary>
    public void Clear(uint index) => Write(index, new TValue[PossibleCpus]);

    public void Dispose() => _fd.Dispose();
}
