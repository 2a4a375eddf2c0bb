using System.Globalization;
using System.Numerics;

namespace ProxyReplacement.ServiceProxy.Options;

/// <summary>
/// <c>--direct-table-size</c>: the slots of <c>pr_nat_direct4</c>, the ClusterIP fast path (one 64-byte line per slot,
/// indexed by a ClusterIP's low bits). A power of two; 0 turns the table off (the map is sized 1, pr_config's mask is 0
/// and the Syncer writes nothing); <c>auto</c> (the default) gives one slot per address of the first Service CIDR, so that
/// two ClusterIPs never share a slot, capped at <see cref="AutoCap"/>.
/// </summary>
public static class DirectTableSize
{
    /// <summary>The most <c>auto</c> gives: 262,144 slots, 16 MiB of kernel memory (a /16 gives 65,536: 4 MiB).</summary>
    public const int AutoCap = 1 << 18;

    /// <summary>The most one may ask for: 1,048,576 slots (a /12, Kubernetes' default Service CIDR), 64 MiB.</summary>
    public const int Max = 1 << 20;

    /// <summary>The bytes of kernel memory one slot takes (<c>sizeof(struct pr_nat_direct4)</c>).</summary>
    public const int SlotBytes = 64;

    /// <summary>The option's value: null for <c>auto</c>, else the slots (0: off).</summary>
    public static int? Parse(string name, string value)
    {
        if (value.Equals("auto", StringComparison.OrdinalIgnoreCase))
            return null;
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var slots) || slots > Max)
            throw new OptionException(name, $"'{value}' is not a table size; accepted: auto, 0 (off) or a power of two from 2 to {Max}");
        if (slots == 1)
            throw new OptionException(name, "1 slot is a mask of 0, which the dataplane reads as off; use 0 to turn the table off, or a power of two from 2");
        if (slots != 0 && !BitOperations.IsPow2(slots))
            throw new OptionException(name,
                $"{slots} is not a power of two (a slot is a ClusterIP's low bits); the nearest are {BitOperations.RoundUpToPowerOf2((uint)slots) / 2} and {BitOperations.RoundUpToPowerOf2((uint)slots)}");
        return slots;
    }

    /// <summary><c>auto</c>: the addresses of the first Service CIDR (a power of two), capped at <see cref="AutoCap"/>; 0 (off) when there is no CIDR or it holds one address.</summary>
    public static int Auto(IReadOnlyList<Ipv4Cidr> serviceCidrs)
    {
        if (serviceCidrs.Count == 0)
            return 0;
        var hostBits = 32 - serviceCidrs[0].PrefixLength;
        return hostBits == 0 ? 0 : hostBits >= 18 ? AutoCap : 1 << hostBits;
    }
}
