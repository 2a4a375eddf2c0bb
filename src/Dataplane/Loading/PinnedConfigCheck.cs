using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Interop;

namespace ProxyReplacement.Dataplane.Loading;

/// <summary>
/// Refuses to adopt pins written under another map ABI version. Runs before anything is loaded
/// or adopted, and reads only the leading <c>abi_version</c> field of the pinned <c>pr_config</c>,
/// so it works even when the config struct itself changed layout (which is what a version bump means).
/// </summary>
internal static unsafe class PinnedConfigCheck
{
    public static void EnsureCompatible(string root)
    {
        var path = PinRoot.PathOf(root, CoreObjectNames.Config);
        if (!File.Exists(path))
            return;
        var fd = LibBpf.bpf_obj_get(path);
        if (fd < 0)
            throw new BpfException($"opening pinned map {path}", -fd);
        using var handle = BpfFdHandle.Own(fd);
        if (!BpfObjectInfo.IsMap(fd))
            return; // the adoption step reports what is wrong with this pin
        var (layout, _, _) = BpfObjectInfo.Map(fd, path);
        if (layout.Type != BpfMapType.Array || layout.KeySize != 4 || layout.ValueSize < 4 || BpfMapType.IsPerCpu(layout.Type))
            return; // not shaped like any pr_config: the layout check gives the better message

        var value = new byte[layout.ValueSize];
        uint key = 0;
        int rc;
        fixed (byte* v = value)
            rc = LibBpf.bpf_map_lookup_elem(fd, &key, v);
        if (rc < 0)
            throw new BpfException($"reading the pinned config {path}", -rc);
        var pinnedVersion = BitConverter.ToUInt32(value, 0);
        if (pinnedVersion != 0 && !DataplaneConfig.AdoptableAbiVersions.Contains(pinnedVersion))
            throw new PinnedAbiVersionMismatchException(path, pinnedVersion, DataplaneConfig.CurrentAbiVersion);
    }
}
