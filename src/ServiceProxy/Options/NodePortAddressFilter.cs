using System.Net;

namespace ProxyReplacement.ServiceProxy.Options;

/// <summary>
/// kube-proxy's <c>--nodeport-addresses</c>: which of the node's addresses serve NodePorts. Empty (the default):
/// every address. Otherwise the addresses inside any of the CIDRs, plus the node's primary IPs when the keyword
/// <c>primary</c> is given.
/// </summary>
public sealed record NodePortAddressFilter(bool Primary, IReadOnlyList<IPNetwork> Cidrs)
{
    public static readonly NodePortAddressFilter All = new(false, []);

    public bool IsAll => !Primary && Cidrs.Count == 0;

    /// <summary>Whether <paramref name="address"/> serves NodePorts; <paramref name="isPrimary"/>: it is a primary IP of the node.</summary>
    public bool Allows(IPAddress address, bool isPrimary) =>
        IsAll || (Primary && isPrimary) || Cidrs.Any(cidr => cidr.Contains(address));

    public static NodePortAddressFilter Parse(string text)
    {
        var primary = false;
        var cidrs = new List<IPNetwork>();
        foreach (var item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (item == "primary")
                primary = true;
            else if (item.Contains('/') && IPNetwork.TryParse(item, out var network) &&
                     IPAddress.TryParse(item.AsSpan(0, item.IndexOf('/')), out var written) && written.Equals(network.BaseAddress))
                cidrs.Add(network); // host bits set (10.0.0.1/8) are refused, as kube-proxy refuses them
            else
                throw new FormatException($"'{item}' is neither a CIDR (e.g. 192.168.0.0/16) nor the keyword primary");
        }
        return new NodePortAddressFilter(primary, cidrs);
    }

    public override string ToString() =>
        IsAll ? "all" : string.Join(",", (Primary ? new[] { "primary" } : []).Concat(Cidrs.Select(c => c.ToString())));
}
