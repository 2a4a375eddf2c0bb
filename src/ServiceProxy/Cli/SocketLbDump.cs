using System.Text;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.SocketLb;

namespace ProxyReplacement.ServiceProxy.Cli;

/// <summary>
/// The socket-LB part of `dump`: the mode in pr_config, the host netns cookie in pr_host_netns, the
/// pinned hook links and the pr_sk_rev4 entries.
/// </summary>
public static class SocketLbDump
{
    public sealed record Hook(string Name, uint LinkId, uint ProgramId, ulong CgroupId, string? CgroupPath);

    public sealed record Reverse(ulong Cookie, string Backend, string Service);

    /// <param name="Cookie">0: never written; null: no pr_host_netns pinned (a daemon from before it).</param>
    /// <param name="IsOwnNamespace">Whether it is the namespace `dump` runs in (null: cannot tell).</param>
    public sealed record HostNamespace(ulong? Cookie, bool? IsOwnNamespace);

    public sealed record State(string Mode, HostNamespace Host, IReadOnlyList<Hook> Hooks, IReadOnlyList<Reverse> Reverse);

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
        return new State(mode, ReadHost(maps), hooks, reverse);
    }

    private static HostNamespace ReadHost(PinnedCoreMaps maps)
    {
        var cookie = maps.ReadHostNetnsCookie();
        if (cookie is not > 0)
            return new HostNamespace(cookie, null);
        try
        {
            return new HostNamespace(cookie, NetnsCookie.OfCurrentThread() == cookie);
        }
        catch (NetworkNamespaceException)
        {
            return new HostNamespace(cookie, null);
        }
    }

    /// <summary>One line on the host netns, for an operator asking "which sockets count as the host's?".</summary>
    public static string Describe(HostNamespace host) => host switch
    {
        { Cookie: null } => "no pr_host_netns pinned (a daemon from before host-netns affinity)",
        { Cookie: 0 } => "unset: every socket is treated as a pod's",
        { IsOwnNamespace: true } => $"cookie {host.Cookie} (this network namespace)",
        { IsOwnNamespace: false } => $"cookie {host.Cookie} (not this dump's network namespace)",
        _ => $"cookie {host.Cookie}",
    };

    public static void AppendText(StringBuilder text, State state)
    {
        var attached = state.Hooks.Count == 0 ? "no hooks pinned" : $"{state.Hooks.Count} hooks pinned";
        text.Append($"\nSOCKET LB (mode {state.Mode}; {attached})\n");
        text.Append($"  host netns: {Describe(state.Host)}\n");
        foreach (var hook in state.Hooks)
        {
            var where = hook.CgroupId == 0 ? "cgroup removed: link defunct"
                : $"cgroup id {hook.CgroupId} {hook.CgroupPath ?? "(path not visible from this mount namespace)"}";
            text.Append($"  {hook.Name,-12} link {hook.LinkId,-5} prog {hook.ProgramId,-6} {where}\n");
        }
        // connect() keeps a socket's translation in the socket (pr_sk_store4), which cannot be listed
        text.Append($"  translated unconnected UDP sockets (pr_sk_rev4): {state.Reverse.Count}; connected sockets keep theirs in socket storage (pr_sk_store4, not listed)\n");
        foreach (var entry in state.Reverse)
            text.Append($"    cookie {entry.Cookie,-10} backend {entry.Backend,-21} seen as {entry.Service}\n");
    }
}
