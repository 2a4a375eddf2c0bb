namespace ProxyReplacement.ServiceProxy.Options;

/// <summary>An inclusive range of ports, written <c>FIRST-LAST</c> (the API server's <c>--service-node-port-range</c>).</summary>
public sealed record PortRange(int First, int Last)
{
    /// <summary>The API server's default NodePort range.</summary>
    public static readonly PortRange DefaultNodePorts = new(30000, 32767);

    public bool Contains(int port) => port >= First && port <= Last;

    public static PortRange Parse(string text)
    {
        var dash = text.IndexOf('-');
        if (dash < 0 || !int.TryParse(text.AsSpan(0, dash), out var first) || !int.TryParse(text.AsSpan(dash + 1), out var last)
            || first is < 1 or > 65535 || last is < 1 or > 65535 || first > last)
            throw new FormatException($"'{text}' is not a port range (expected FIRST-LAST within 1-65535, e.g. 30000-32767)");
        return new PortRange(first, last);
    }

    public override string ToString() => $"{First}-{Last}";
}
