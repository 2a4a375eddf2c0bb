using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Abi;

/// <summary>
/// Mirrors <c>struct pr_host_netns</c>, the single entry of <c>pr_host_netns</c>: the network
/// namespace whose sockets the socket hooks treat as host-network clients.
/// <code>
/// struct pr_host_netns { __u64 cookie; };
/// </code>
/// A zero cookie means "unknown": every socket is treated as a pod's (netns cookies start at 1).
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 8)]
public readonly record struct HostNetns
{
    [FieldOffset(0)] public readonly ulong Cookie;

    public HostNetns(ulong cookie) => Cookie = cookie;
}
