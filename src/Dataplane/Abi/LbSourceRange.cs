using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Abi;

/// <summary>
/// Mirrors <c>struct pr_lb_src_key4</c> (the LPM key of <c>pr_lb_src4</c>):
/// <code>
/// struct pr_lb_src_key4 { __u32 prefixlen; __u32 svc_id; __be32 addr; };
/// </code>
/// The service id is always matched in full: prefixlen = 32 + the source prefix length.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 12)]
public readonly record struct LbSourceRangeKey4
{
    [FieldOffset(0)] public readonly uint PrefixLength;
    [FieldOffset(4)] public readonly uint ServiceId;
    [FieldOffset(8)] public readonly uint AddressNbo;

    public LbSourceRangeKey4(uint serviceId, IPNetwork range)
    {
        if (range.BaseAddress.AddressFamily != AddressFamily.InterNetwork)
            throw new ArgumentException($"{range} is not an IPv4 network", nameof(range));
        PrefixLength = 32 + (uint)range.PrefixLength;
        ServiceId = serviceId;
        AddressNbo = Ipv4.ToNbo(range.BaseAddress);
    }

    public IPNetwork Range => new(Ipv4.FromNbo(AddressNbo), (int)PrefixLength - 32);

    public override string ToString() => $"id {ServiceId} {Range}";
}

/// <summary>Mirrors <c>struct pr_lb_src_value { __u32 flags; }</c> (reserved, zero).</summary>
[StructLayout(LayoutKind.Explicit, Size = 4)]
public readonly record struct LbSourceRangeValue
{
    [FieldOffset(0)] public readonly uint Flags;
}
