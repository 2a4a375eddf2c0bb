using System.Net;
using System.Net.Sockets;

namespace ProxyReplacement.ServiceProxy.Policy;

/// <summary>An IPv4 prefix in host byte order (the compiler's arithmetic: containment and masking).</summary>
public readonly record struct Prefix4(uint Address, int Length) : IComparable<Prefix4>
{
    public static readonly Prefix4 Everything = new(0, 0);

    public static uint Mask(int length) => length == 0 ? 0 : uint.MaxValue << (32 - length);

    public static Prefix4 Of(IPNetwork network)
    {
        if (network.BaseAddress.AddressFamily != AddressFamily.InterNetwork)
            throw new ArgumentException($"{network} is not IPv4", nameof(network));
        return new Prefix4(ToUInt(network.BaseAddress) & Mask(network.PrefixLength), network.PrefixLength);
    }

    public static Prefix4 Host(IPAddress address) => new(ToUInt(address), 32);

    public static uint ToUInt(IPAddress address)
    {
        var bytes = address.GetAddressBytes();
        return (uint)(bytes[0] << 24 | bytes[1] << 16 | bytes[2] << 8 | bytes[3]);
    }

    public static IPAddress ToAddress(uint address) =>
        new([(byte)(address >> 24), (byte)(address >> 16), (byte)(address >> 8), (byte)address]);

    /// <summary>Whether <paramref name="other"/> lies inside this prefix (a prefix contains itself).</summary>
    public bool Contains(Prefix4 other) => other.Length >= Length && (other.Address & Mask(Length)) == Address;

    public bool Contains(uint address) => (address & Mask(Length)) == Address;

    public IPNetwork ToNetwork() => new(ToAddress(Address), Length);

    public int CompareTo(Prefix4 other) => Address != other.Address ? Address.CompareTo(other.Address) : Length.CompareTo(other.Length);

    public override string ToString() => $"{ToAddress(Address)}/{Length}";
}
