using System.Net;
using System.Net.Sockets;

namespace ProxyReplacement.ServiceProxy.Options;

/// <summary>An IPv4 network in CIDR notation.</summary>
public sealed record Ipv4Cidr(IPAddress Network, int PrefixLength)
{
    public static Ipv4Cidr Parse(string text)
    {
        var slash = text.IndexOf('/');
        if (slash < 0
            || text.AsSpan(0, slash).Count('.') != 3 // no short forms like 10.96/12
            || !IPAddress.TryParse(text.AsSpan(0, slash), out var address)
            || address.AddressFamily != AddressFamily.InterNetwork
            || !int.TryParse(text.AsSpan(slash + 1), out var prefix)
            || prefix is < 0 or > 32)
            throw new FormatException($"'{text}' is not an IPv4 CIDR (expected e.g. 10.96.0.0/12)");
        // Host bits are cleared, so 10.96.0.1/12 and 10.96.0.0/12 are the same range.
        var bytes = address.GetAddressBytes();
        var hostOrder = (uint)bytes[0] << 24 | (uint)bytes[1] << 16 | (uint)bytes[2] << 8 | bytes[3];
        var network = prefix == 0 ? 0u : hostOrder & (uint.MaxValue << (32 - prefix));
        return new Ipv4Cidr(new IPAddress([(byte)(network >> 24), (byte)(network >> 16), (byte)(network >> 8), (byte)network]), prefix);
    }

    public override string ToString() => $"{Network}/{PrefixLength}";
}
