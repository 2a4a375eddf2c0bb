using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.SocketLb;
using ProxyReplacement.Dataplane.Tc;
using ProxyReplacement.ServiceProxy.Daemon;

namespace ProxyReplacement.ServiceProxy.Cli;

/// <summary>
/// `service-proxy cleanup` (and `run --cleanup`): detaches our TC programs from every interface of
/// this network namespace (found by our fixed priority/handle), detaches the socket hooks (through
/// their pinned links) and removes our pins. After it, no
/// program or map of ours is left in the kernel once nothing else holds them.
/// </summary>
public static class CleanupCommand
{
    public static IReadOnlyList<string> Run(string bpffsRoot)
    {
        var report = new List<string>();
        foreach (var (name, index) in InterfaceAttacher.ListInterfaces().OrderBy(i => i.Name, StringComparer.Ordinal))
        {
            foreach (var direction in new[] { TcDirection.Ingress, TcDirection.Egress })
            {
                if (Tc.QueryProgramId(index, direction, AttachPoint.Priority, AttachPoint.Handle) is not { } id)
                    continue;
                Tc.Detach(index, direction, AttachPoint.Priority, AttachPoint.Handle);
                report.Add($"detached program {id} from {name} {direction.ToString().ToLowerInvariant()}");
            }
        }
        if (Directory.Exists(bpffsRoot))
        {
            // The socket hooks' links are pinned: detaching through the pins needs no cgroup path.
            report.AddRange(PinnedSocketHooks.Remove(bpffsRoot));
            foreach (var name in CoreDataplane.RemovePins(bpffsRoot))
                report.Add($"removed pin {Path.Combine(bpffsRoot, name)}");
            if (!Directory.EnumerateFileSystemEntries(bpffsRoot).Any())
            {
                Directory.Delete(bpffsRoot);
                report.Add($"removed {bpffsRoot}");
            }
        }
        // The policy module's names for dump and explain (not on the bpffs): the directory goes too once empty.
        var names = Policy.PolicyNames.PathFor(bpffsRoot);
        if (File.Exists(names))
        {
            File.Delete(names);
            report.Add($"removed {names}");
        }
        foreach (var directory in new[] { Policy.PolicyNames.Directory, Path.GetDirectoryName(Policy.PolicyNames.Directory)! })
            if (Directory.Exists(directory) && !Directory.EnumerateFileSystemEntries(directory).Any())
                Directory.Delete(directory);
        return report;
    }
}
