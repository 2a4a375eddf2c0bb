using System.Runtime.InteropServices;
using ProxyReplacement.Dataplane.Maps;

namespace ProxyReplacement.Dataplane.Interop;

/// <summary>Reads kernel information about map and program fds (BPF_OBJ_GET_INFO_BY_FD).</summary>
internal static unsafe class BpfObjectInfo
{
    public static (BpfMapLayout Layout, uint Id, string Name) Map(int fd, string what)
    {
        BpfMapInfo info = default;
        var length = (uint)sizeof(BpfMapInfo);
        var rc = LibBpf.bpf_obj_get_info_by_fd(fd, &info, &length);
        if (rc < 0)
            throw new BpfException($"reading the map info of {what}", -rc);
        var name = Marshal.PtrToStringUTF8((nint)info.Name) ?? string.Empty;
        return (new BpfMapLayout(info.Type, info.KeySize, info.ValueSize, info.MaxEntries, info.MapFlags), info.Id, name);
    }

    public static uint ProgramId(int fd, string what)
    {
        BpfProgInfo info = default;
        var length = (uint)sizeof(BpfProgInfo);
        var rc = LibBpf.bpf_obj_get_info_by_fd(fd, &info, &length);
        if (rc < 0)
            throw new BpfException($"reading the program info of {what}", -rc);
        return info.Id;
    }

    /// <summary>The kernel's view of a link fd: its id, program, and for a cgroup link the cgroup id and attach type.</summary>
    public static BpfLinkInfo Link(int fd, string what)
    {
        BpfLinkInfo info = default;
        var length = (uint)sizeof(BpfLinkInfo);
        var rc = LibBpf.bpf_obj_get_info_by_fd(fd, &info, &length);
        if (rc < 0)
            throw new BpfException($"reading the link info of {what}", -rc);
        return info;
    }

    /// <summary>Whether <paramref name="fd"/> is a BPF link (its procfs entry shows "link_type:").</summary>
    public static bool IsLink(int fd)
    {
        try
        {
            return File.ReadLines($"/proc/self/fdinfo/{fd}").Any(line => line.StartsWith("link_type:", StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return true; // no procfs: let the info read decide
        }
    }

    /// <summary>
    /// Whether <paramref name="fd"/> is a map. bpf_obj_get opens any pinned object, and a program's
    /// info would be misread as map info, so ask the fd's procfs entry (maps show "map_type:").
    /// </summary>
    public static bool IsMap(int fd)
    {
        try
        {
            return File.ReadLines($"/proc/self/fdinfo/{fd}").Any(line => line.StartsWith("map_type:", StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return true; // no procfs: let the info read decide
        }
    }
}
