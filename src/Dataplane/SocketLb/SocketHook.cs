namespace ProxyReplacement.Dataplane.SocketLb;

/// <summary>The cgroup sock_addr hooks of connect-time balancing (bpf-c/sock_lb.bpf.c).</summary>
public enum SocketHook
{
    /// <summary>cgroup/connect4: TCP and connected UDP, destination VIP:port -> backend.</summary>
    Connect4,

    /// <summary>cgroup/sendmsg4: unconnected UDP, each datagram's destination VIP:port -> backend.</summary>
    Sendmsg4,

    /// <summary>cgroup/recvmsg4: a UDP reply from a translated backend is reported from VIP:port.</summary>
    Recvmsg4,

    /// <summary>cgroup/getpeername4: the peer of a translated socket is VIP:port.</summary>
    Getpeername4,
}

/// <summary>Names and kernel attach types of the <see cref="SocketHook"/>s.</summary>
public static class SocketHooks
{
    /// <summary>Every hook, in attach order (the reverse hooks first, so no socket is translated without them).</summary>
    public static IReadOnlyList<SocketHook> All { get; } =
        [SocketHook.Recvmsg4, SocketHook.Getpeername4, SocketHook.Sendmsg4, SocketHook.Connect4];

    /// <summary>The short name used for pins and in dumps: connect4, sendmsg4, recvmsg4, getpeername4.</summary>
    public static string Name(SocketHook hook) => hook switch
    {
        SocketHook.Connect4 => "connect4",
        SocketHook.Sendmsg4 => "sendmsg4",
        SocketHook.Recvmsg4 => "recvmsg4",
        SocketHook.Getpeername4 => "getpeername4",
        _ => throw new ArgumentOutOfRangeException(nameof(hook), hook, "unknown socket hook"),
    };

    /// <summary>The program's function name in sock_lb.bpf.c.</summary>
    public static string ProgramName(SocketHook hook) => hook switch
    {
        SocketHook.Connect4 => "pr_sk_connect4",
        SocketHook.Sendmsg4 => "pr_sk_sendmsg4",
        SocketHook.Recvmsg4 => "pr_sk_recvmsg4",
        SocketHook.Getpeername4 => "pr_sk_peername4",
        _ => throw new ArgumentOutOfRangeException(nameof(hook), hook, "unknown socket hook"),
    };

    /// <summary>enum bpf_attach_type (linux/bpf.h): BPF_CGROUP_INET4_CONNECT = 10, UDP4_SENDMSG = 14, UDP4_RECVMSG = 19, INET4_GETPEERNAME = 29.</summary>
    internal static uint AttachType(SocketHook hook) => hook switch
    {
        SocketHook.Connect4 => 10,
        SocketHook.Sendmsg4 => 14,
        SocketHook.Recvmsg4 => 19,
        SocketHook.Getpeername4 => 29,
        _ => throw new ArgumentOutOfRangeException(nameof(hook), hook, "unknown socket hook"),
    };

    /// <summary>The hook of a kernel attach type, or null for another type.</summary>
    internal static SocketHook? OfAttachType(uint attachType) =>
        All.Cast<SocketHook?>().FirstOrDefault(hook => AttachType(hook!.Value) == attachType);
}
