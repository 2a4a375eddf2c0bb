using System.Net;
using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Abi;

/// <summary>
/// Mirrors <c>struct pr_svc_cidr_key4</c>, the key of the <c>pr_svc_cidr4</c> LPM trie:
/// <code>
/// struct pr_svc_cidr_key4 { __u32 prefixlen; __be32 addr; };
/// </code>
/// TCP/UDP to an address inside one of these ranges that no frontend claims is rejected.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 8)]
public readonly record struct ServiceCidrKey4
{
    [FieldOffset(0)] public readonly uint PrefixLength;
    [FieldOffset(4)] public readonly uint AddressNbo;

    public ServiceCidrKey4(IPAddress network, int prefixLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(prefixLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(prefixLength, 32);
        PrefixLength = (uint)prefixLength;
        // keep only the network bits: the trie compares prefixlen bits, the rest must not matter
        var mask = prefixLength == 0 ? 0u : uint.MaxValue << (32 - prefixLength);
        var hostOrder = (uint)IPAddress.NetworkToHostOrder((int)Ipv4.ToNbo(network)) & mask;
        AddressNbo = (uint)IPAddress.HostToNetworkOrder((int)hostOrder);
    }

    public IPAddress Network => Ipv4.FromNbo(AddressNbo);

    public override string ToString() => $"{Network}/{PrefixLength}";
}

/// <summary>Mirrors <c>struct pr_svc_cidr_value { __u32 flags; };</c></summary>
[StructLayout(LayoutKind.Explicit, Size = 4)]
public readonly record struct ServiceCidrValue
{
    [FieldOffset(0)] public readonly uint Flags;
}
