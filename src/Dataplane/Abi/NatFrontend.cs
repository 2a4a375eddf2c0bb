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
}

/// <summary>
/// Mirrors <c>struct pr_nat_fe_value</c>:
/// <code>
/// struct pr_nat_fe_value { __u32 svc_id; __u32 backend_count; __u32 flags; __u32 affinity_timeout_s; };
/// </code>
/// All fields host byte order.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
public readonly record struct NatFrontendValue
{
    [FieldOffset(0)] public readonly uint ServiceId;
    [FieldOffset(4)] public readonly uint BackendCount;
    [FieldOffset(8)] public readonly FrontendFlags Flags;
    [FieldOffset(12)] public readonly uint AffinityTimeoutSeconds;

    public NatFrontendValue(uint serviceId, uint backendCount, FrontendFlags flags = FrontendFlags.None, uint affinityTimeoutSeconds = 0)
    {
        ServiceId = serviceId;
        BackendCount = backendCount;
        Flags = flags;
        AffinityTimeoutSeconds = affinityTimeoutSeconds;
    }
}
