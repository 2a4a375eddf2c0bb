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
            || !IPAddress.TryParse(text.AsSpan(0, slash), out var address)
            || address.AddressFamily != AddressFamily.InterNetwork
            || !int.TryParse(text.AsSpan(slash + 1), out var prefix)
            || prefix is < 0 or > 32)
            throw new FormatException($"'{text}' is not an IPv4 CIDR (expected e.g. 10.96.0.0/12)");
        return new Ipv4Cidr(address, prefix);
    }

    public override string ToString() => $"{Network}/{PrefixLength}";
}
