using System.Text;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.SocketLb;

namespace ProxyReplacement.ServiceProxy.Cli;

/// <summary>The socket-LB part of `dump`: the mode in pr_config, the pinned hook links and the pr_sk_rev4 entries.</summary>
public static class SocketLbDump
{
    public sealed record Hook(string Name, uint LinkId, uint ProgramId, ulong CgroupId, string? CgroupPath);

    public sealed record Reverse(ulong Cookie, string Backend, string Service);

    public sealed record State(string Mode, IReadOnlyList<Hook> Hooks, IReadOnlyList<Reverse> Reverse);

    public static State Read(PinnedCoreMaps maps, string? pinRoot)
    {
        var mode = maps.ReadConfig()?.SocketLbMode.ToString().ToLowerInvariant() ?? "(pr_config unwritten)";
        var hooks = pinRoot is null
            ? []
            : PinnedSocketHooks.Read(pinRoot).Select(h => new Hook(SocketHooks.Name(h.Hook), h.Link.LinkId, h.Link.ProgramId,
                h.Link.CgroupId, Cgroup.FindPath(h.Link.CgroupId))).ToList();
        var reverse = maps.SocketReverse?.ReadAll()
            .OrderBy(e => e.Key.Cookie).ThenBy(e => e.Key.ToString(), StringComparer.Ordinal)
            .Select(e => new Reverse(e.Key.Cookie, $"{e.Key.BackendAddress}:{e.Key.BackendPort}", e.Value.ToString())).ToList() ?? [];
        return new State(mode, hooks, reverse);
    }

    public static void AppendText(StringBuilder text, State state)
    {
        var attached = state.Hooks.Count == 0 ? "no hooks pinned" : $"{state.Hooks.Count} hooks pinned";
        text.Append($"\nSOCKET LB (mode {state.Mode}; {attached})\n");
        foreach (var hook in state.Hooks)
        {
            var where = hook.CgroupId == 0 ? "cgroup removed: link defunct"
                : $"cgroup id {hook.CgroupId} {hook.CgroupPath ?? "(path not visible from this mount namespace)"}";
            text.Append($"  {hook.Name,-12} link {hook.LinkId,-5} prog {hook.ProgramId,-6} {where}\n");
        }
        text.Append($"  translated sockets (pr_sk_rev4): {state.Reverse.Count}\n");
        foreach (var entry in state.Reverse)
            text.Append($"    cookie {entry.Cookie,-10} backend {entry.Backend,-21} seen as {entry.Service}\n");
    }
}
