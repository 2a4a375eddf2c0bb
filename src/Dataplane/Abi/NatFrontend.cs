using System.Net;
using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Abi;

/// <summary>
/// Mirrors <c>struct pr_nat_fe_key4</c> (bpf-c/include/pr_map_abi.h):
/// <code>
/// struct pr_nat_fe_key4 { __be32 vip; __be16 port; __u8 proto; __u8 pad; };
/// </code>
/// Address and port are stored in network byte order, exactly as the kernel sees them.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 8)]
public readonly record struct NatFrontendKey4
{
    [FieldOffset(0)] public readonly uint VipNbo;
    [FieldOffset(4)] public readonly ushort PortNbo;
    [FieldOffset(6)] public readonly byte Protocol;
    [FieldOffset(7)] private readonly byte _pad;

    public NatFrontendKey4(IPAddress vip, ushort port, L4Protocol protocol)
    {
        VipNbo = Ipv4.ToNbo(vip);
        PortNbo = Ipv4.PortToNbo(port);
        Protocol = (byte)protocol;
        _pad = 0;
    }

    public IPAddress Vip => Ipv4.FromNbo(VipNbo);
    public ushort Port => Ipv4.PortFromNbo(PortNbo);
    public L4Protocol L4 => (L4Protocol)Protocol;

    public override string ToString() => $"{Vip}:{Port}/{L4.ToString().ToLowerInvariant()}";
}

/// <summary>Frontend flags (<c>PR_FE_F_*</c>).</summary>
[Flags]
public enum FrontendFlags : uint
{
    None = 0,
    /// <summary><c>PR_FE_F_AFFINITY</c>: ClientIP session affinity.</summary>
    Affinity = 1u << 0,

    /// <summary><c>PR_FE_F_SOURCE_RANGES</c>: only sources with an entry in <c>pr_lb_src4</c> for the id (loadBalancerSourceRanges).</summary>
    SourceRanges = 1u << 1,

    /// <summary><c>PR_FE_F_EXT_LOCAL</c>: traffic from outside the node uses the local set (externalTrafficPolicy: Local).</summary>
    ExternalLocal = 1u << 2,

    /// <summary><c>PR_FE_F_INT_LOCAL</c>: traffic from the node's pods and host uses the local set (internalTrafficPolicy: Local).</summary>
    InternalLocal = 1u << 3,

    /// <summary><c>PR_FE_F_MODE_SNAT</c>: external traffic to a remote backend is SNATed (the per-Service annotation).</summary>
    ModeSnat = 1u << 4,

    /// <summary><c>PR_FE_F_MODE_TUNNEL</c>: ... is tunnelled to the backend's node.</summary>
    ModeTunnel = 1u << 5,

    /// <summary><c>PR_FE_F_MODE_DSR</c>: ... is tunnelled, and the backend's node answers the client directly.</summary>
    ModeDsr = 1u << 6,
}

/// <summary><c>enum pr_fe_kind</c>: the entry point a frontend is.</summary>
public enum FrontendKind : byte
{
    ClusterIP = 0,
    NodePort = 1,
    LoadBalancer = 2,
    ExternalIP = 3,
}

/// <summary>
/// Mirrors <c>struct pr_nat_fe_value</c>:
/// <code>
/// struct pr_nat_fe_value { __u32 svc_id; __u32 backend_count; __u32 flags; __u32 affinity_timeout_s;
///                          __u32 local_count; __u8 kind; __u8 pad[3]; };
/// </code>
/// All fields host byte order. The cluster set is at ordinals [0, backend_count), the local set at
/// <see cref="LocalOrdinalBase"/> + [0, local_count).
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 24)]
public readonly record struct NatFrontendValue
{
    /// <summary><c>PR_LOCAL_ORDINAL_BASE</c>: the first ordinal of the node-local set.</summary>
    public const uint LocalOrdinalBase = 0x80000000u;

    [FieldOffset(0)] public readonly uint ServiceId;
    [FieldOffset(4)] public readonly uint BackendCount;
    [FieldOffset(8)] public readonly FrontendFlags Flags;
    [FieldOffset(12)] public readonly uint AffinityTimeoutSeconds;
    [FieldOffset(16)] public readonly uint LocalCount;
    [FieldOffset(20)] public readonly FrontendKind Kind;
    [FieldOffset(21)] private readonly byte _pad0;
    [FieldOffset(22)] private readonly ushort _pad1;

    public NatFrontendValue(uint serviceId, uint backendCount, FrontendFlags flags = FrontendFlags.None, uint affinityTimeoutSeconds = 0,
        FrontendKind kind = FrontendKind.ClusterIP, uint localCount = 0)
    {
        ServiceId = serviceId;
        BackendCount = backendCount;
        Flags = flags;
        AffinityTimeoutSeconds = affinityTimeoutSeconds;
        LocalCount = localCount;
        Kind = kind;
        _pad0 = 0;
        _pad1 = 0;
    }

    /// <summary>This value with other backend counts (the rest kept).</summary>
    public NatFrontendValue WithCounts(uint backendCount, uint localCount) =>
        new(ServiceId, backendCount, Flags, AffinityTimeoutSeconds, Kind, localCount);
}
