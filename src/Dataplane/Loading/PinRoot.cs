using ProxyReplacement.Dataplane.Interop;

namespace ProxyReplacement.Dataplane.Loading;

/// <summary>The bpffs directory where maps are pinned as <c>&lt;root&gt;/&lt;map name&gt;</c>.</summary>
public static class PinRoot
{
    /// <summary>Creates the directory if missing and checks it is on a bpffs (pins only work there).</summary>
    public static void Prepare(string root)
    {
        Directory.CreateDirectory(root);
        var type = Libc.FileSystemType(root);
        if (type != Libc.BpfFsMagic)
            throw new BpfException(
                $"pin root {root} is not on a bpffs (filesystem magic 0x{type:x}); mount one first: mount -t bpf bpf {root}",
                Errno.EINVAL);
    }

    public static string PathOf(string root, string mapName) => Path.Combine(root, mapName);

    /// <summary>
    /// Whether libbpf's map is one we pin: not the object's internal .data/.rodata/.bss maps,
    /// which belong to one load of the program and must not be shared.
    /// </summary>
    public static bool IsPinnable(string mapName) => !mapName.Contains('.');
}
