using System.Net;
using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Abi;

/// <summary>
/// Mirrors <c>struct pr_sk_doomed_key4</c>, the key of <c>pr_sk_doomed4</c> (sock_destroy.bpf.o's own map): a
/// (frontend, backend) pair whose connected sockets the next iterator run terminates.
/// <code>
/// struct pr_sk_doomed_key4 { __be32 vip; __be16 port; __u8 proto; __u8 pad; __be32 backend_addr; __be16 backend_port; __u16 pad2; };
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
public readonly record struct SocketDoomedKey4
{
    [FieldOffset(0)] public readonly uint VipNbo;
    [FieldOffset(4)] public readonly ushort PortNbo;
    [FieldOffset(6)] public readonly L4Protocol Protocol;
    [FieldOffset(7)] private readonly byte _pad;
    [FieldOffset(8)] public readonly uint BackendAddressNbo;
    [FieldOffset(12)] public readonly ushort BackendPortNbo;
    [FieldOffset(14)] private readonly ushort _pad2;

    public SocketDoomedKey4(NatFrontendKey4 frontend, NatBackendValue4 backend)
    {
        VipNbo = frontend.VipNbo;
        PortNbo = frontend.PortNbo;
        Protocol = frontend.L4;
        _pad = 0;
        BackendAddressNbo = backend.AddressNbo;
        BackendPortNbo = backend.PortNbo;
        _pad2 = 0;
    }

    public NatFrontendKey4 Frontend => new(Ipv4.FromNbo(VipNbo), Ipv4.PortFromNbo(PortNbo), Protocol);
    public IPAddress BackendAddress => Ipv4.FromNbo(BackendAddressNbo);
    public ushort BackendPort => Ipv4.PortFromNbo(BackendPortNbo);

    public override string ToString() => $"{Frontend} -> {BackendAddress}:{BackendPort}";
}

/// <summary>
/// Mirrors <c>struct pr_sk_doomed_value</c>.
/// <code>
/// struct pr_sk_doomed_value { __u32 flags; };
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 4)]
public readonly record struct SocketDoomedValue
{
    [FieldOffset(0)] public readonly uint Flags;
}

/// <summary>
/// Mirrors <c>struct pr_sk_destroyed4</c>: one socket an iterator of sock_destroy.bpf.o matched, as it writes it to
/// its output.
/// <code>
/// struct pr_sk_destroyed4 { __be32 src; __be32 dst; __be16 sport; __be16 dport; __be32 vip; __be16 port; __u8 proto; __u8 pad; __s32 result; };
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 24)]
public readonly record struct SocketDestroyedRecord4
{
    /// <summary><c>PR_SK_DESTROY_UNSUPPORTED</c>: the compat build found the socket but cannot destroy it.</summary>
    public const int Unsupported = 1;

    [FieldOffset(0)] public readonly uint SourceNbo;
    [FieldOffset(4)] public readonly uint DestinationNbo;
    [FieldOffset(8)] public readonly ushort SourcePortNbo;
    [FieldOffset(10)] public readonly ushort DestinationPortNbo;
    [FieldOffset(12)] public readonly uint VipNbo;
    [FieldOffset(16)] public readonly ushort PortNbo;
    [FieldOffset(18)] public readonly L4Protocol Protocol;
    [FieldOffset(19)] private readonly byte _pad;
    /// <summary>0: destroyed; below 0: bpf_sock_destroy's -errno; <see cref="Unsupported"/>: not destroyed (compat build).</summary>
    [FieldOffset(20)] public readonly int Result;

    public IPEndPoint Local => new(Ipv4.FromNbo(SourceNbo), Ipv4.PortFromNbo(SourcePortNbo));
    public IPEndPoint Peer => new(Ipv4.FromNbo(DestinationNbo), Ipv4.PortFromNbo(DestinationPortNbo));
    public NatFrontendKey4 Frontend => new(Ipv4.FromNbo(VipNbo), Ipv4.PortFromNbo(PortNbo), Protocol);
    public bool Destroyed => Result == 0;

    public override string ToString() =>
        $"{Local} -> {Peer} (via {Frontend}): " +
        (Result == 0 ? "destroyed" : Result == Unsupported ? "not destroyed (no bpf_sock_destroy)" : $"error {-Result}");
}
