using System.Net;
using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Abi;

/// <summary>
/// Mirrors <c>struct pr_nat_be_key</c>:
/// <code>
/// struct pr_nat_be_key { __u32 svc_id; __u32 ordinal; };
/// </code>
/// Host byte order.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 8)]
public readonly record struct NatBackendKey
{
    [FieldOffset(0)] public readonly uint ServiceId;
    [FieldOffset(4)] public readonly uint Ordinal;

    public NatBackendKey(uint serviceId, uint ordinal)
    {
        ServiceId = serviceId;
        Ordinal = ordinal;
    }

    public override string ToString() => $"svc {ServiceId} #{Ordinal}";
}

/// <summary>
/// Mirrors <c>struct pr_nat_be_value4</c>:
/// <code>
/// struct pr_nat_be_value4 { __be32 addr; __be16 port; __u8 flags; __u8 pad; };
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 8)]
public readonly record struct NatBackendValue4
{
    [FieldOffset(0)] public readonly uint AddressNbo;
    [FieldOffset(4)] public readonly ushort PortNbo;
    [FieldOffset(6)] public readonly byte Flags;
    [FieldOffset(7)] private readonly byte _pad;

    public NatBackendValue4(IPAddress address, ushort port)
    {
        AddressNbo = Ipv4.ToNbo(address);
        PortNbo = Ipv4.PortToNbo(port);
        Flags = 0;
        _pad = 0;
    }

    public IPAddress Address => Ipv4.FromNbo(AddressNbo);
    public ushort Port => Ipv4.PortFromNbo(PortNbo);

    public override string ToString() => $"{Address}:{Port}";
}
