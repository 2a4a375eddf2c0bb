using System.Net;
using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Abi;

/// <summary>
/// Mirrors <c>struct pr_sk_rev_key4</c> (the key of <c>pr_sk_rev4</c>, the socket hooks' reverse translation):
/// <code>
/// struct pr_sk_rev_key4 { __u64 cookie; __be32 backend_addr; __be16 backend_port; __u16 pad; };
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
public readonly record struct SocketReverseKey4
{
    /// <summary>The socket cookie (<c>bpf_get_socket_cookie</c>, <c>SO_COOKIE</c>), host order.</summary>
    [FieldOffset(0)] public readonly ulong Cookie;
    [FieldOffset(8)] public readonly uint BackendAddressNbo;
    [FieldOffset(12)] public readonly ushort BackendPortNbo;
    [FieldOffset(14)] private readonly ushort _pad;

    public SocketReverseKey4(ulong cookie, IPAddress backend, ushort backendPort)
    {
        Cookie = cookie;
        BackendAddressNbo = Ipv4.ToNbo(backend);
        BackendPortNbo = Ipv4.PortToNbo(backendPort);
        _pad = 0;
    }

    public IPAddress BackendAddress => Ipv4.FromNbo(BackendAddressNbo);
    public ushort BackendPort => Ipv4.PortFromNbo(BackendPortNbo);

    public override string ToString() => $"cookie {Cookie} {BackendAddress}:{BackendPort}";
}

/// <summary>
/// Mirrors <c>struct pr_sk_rev_value4</c>: the VIP:port the application asked for.
/// <code>
/// struct pr_sk_rev_value4 { __be32 vip; __be16 port; __u16 pad; };
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 8)]
public readonly record struct SocketReverseValue4
{
    [FieldOffset(0)] public readonly uint VipNbo;
    [FieldOffset(4)] public readonly ushort PortNbo;
    [FieldOffset(6)] private readonly ushort _pad;

    public SocketReverseValue4(IPAddress vip, ushort port)
    {
        VipNbo = Ipv4.ToNbo(vip);
        PortNbo = Ipv4.PortToNbo(port);
        _pad = 0;
    }

    public IPAddress Vip => Ipv4.FromNbo(VipNbo);
    public ushort Port => Ipv4.PortFromNbo(PortNbo);

    public override string ToString() => $"{Vip}:{Port}";
}

/// <summary>
/// Mirrors <c>struct pr_sk_store4</c>, the value of <c>pr_sk_store4</c> (socket storage of connected sockets):
/// <code>
/// struct pr_sk_store4 { __be32 backend_addr; __be16 backend_port; __u16 pad; __be32 vip; __be16 port; __u16 pad2; };
/// </code>
/// Kept in each translated socket by connect4 and freed with it; user space never reads it (the map cannot be
/// iterated), the mirror is here for the layout contract.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
public readonly record struct SocketStore4
{
    [FieldOffset(0)] public readonly uint BackendAddressNbo;
    [FieldOffset(4)] public readonly ushort BackendPortNbo;
    [FieldOffset(6)] private readonly ushort _pad;
    [FieldOffset(8)] public readonly uint VipNbo;
    [FieldOffset(12)] public readonly ushort PortNbo;
    [FieldOffset(14)] private readonly ushort _pad2;
}
