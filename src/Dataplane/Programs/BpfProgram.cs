namespace ProxyReplacement.Dataplane.Programs;

/// <summary>
/// A loaded BPF program of a <see cref="CoreDataplane"/>. The fd belongs to the loaded object:
/// it is valid while the owning dataplane is not disposed. Attachments (TC) hold their own
/// reference in the kernel, so an attached program keeps running after the fd is closed.
/// </summary>
public sealed class BpfProgram
{
    internal BpfProgram(string name, int fd, uint id)
    {
        Name = name;
        Fd = fd;
        Id = id;
    }

    /// <summary>The function name in the BPF C source (e.g. <c>pr_tc_from_wl</c>).</summary>
    public string Name { get; }

    /// <summary>The program fd, valid while the owning object is alive.</summary>
    public int Fd { get; }

    /// <summary>The kernel program id (bpftool prog show).</summary>
    public uint Id { get; }

    public override string ToString() => $"{Name} (id {Id})";
}
