using System.Globalization;
using System.Net;
using System.Net.Sockets;
using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Cli.Explain;

/// <summary>Where the packet (or the socket call) starts, which decides the program that sees it.</summary>
public enum TrafficOrigin
{
    /// <summary>A pod: <c>pr_tc_from_wl</c> at TC ingress of the pod's host-side veth.</summary>
    Pod,
    /// <summary>A host-network socket: the cgroup connect4/sendmsg4 hooks (connect-time balancing).</summary>
    Host,
    /// <summary>From outside the node, arriving on a host data interface.</summary>
    External,
}

public static class TrafficOrigins
{
    public static TrafficOrigin? Parse(string text) => text switch
    {
        "pod" => TrafficOrigin.Pod,
        "host" => TrafficOrigin.Host,
        "external" => TrafficOrigin.External,
        _ => null,
    };

    public static string Name(TrafficOrigin origin) => origin.ToString().ToLowerInvariant();
}

/// <summary>What to explain: a first packet (or connect()) from <see cref="Source"/> to <see cref="Destination"/>:<see cref="Port"/>.</summary>
public sealed record ExplainRequest(TrafficOrigin From, IPAddress Source, IPAddress Destination, ushort Port, L4Protocol Protocol)
{
    public NatFrontendKey4 FrontendKey => new(Destination, Port, Protocol);

    public string DestinationText => $"{Destination}:{Port}/{Protocol.ToString().ToLowerInvariant()}";

    public static bool TryParseSource(string text, out IPAddress address) =>
        IPAddress.TryParse(text, out address!) && address.AddressFamily == AddressFamily.InterNetwork && text.Count(c => c == '.') == 3;

    /// <summary><c>10.96.0.10:80/tcp</c>; the protocol may be left out (tcp).</summary>
    public static bool TryParseDestination(string text, out (IPAddress Address, ushort Port, L4Protocol Protocol) destination, out string problem)
    {
        destination = default;
        var slash = text.LastIndexOf('/');
        var protocolText = slash >= 0 ? text[(slash + 1)..].ToLowerInvariant() : "tcp";
        var hostPort = slash >= 0 ? text[..slash] : text;
        L4Protocol protocol;
        switch (protocolText)
        {
            case "tcp":
                protocol = L4Protocol.Tcp;
                break;
            case "udp":
                protocol = L4Protocol.Udp;
                break;
            default:
                problem = $"'{protocolText}' is not a protocol; accepted: tcp, udp";
                return false;
        }
        var colon = hostPort.LastIndexOf(':');
        if (colon < 0)
        {
            problem = $"'{text}' has no port; expected DST:PORT/PROTO, e.g. 10.96.0.10:80/tcp";
            return false;
        }
        if (!TryParseSource(hostPort[..colon], out var address))
        {
            problem = $"'{hostPort[..colon]}' is not an IPv4 address";
            return false;
        }
        if (!ushort.TryParse(hostPort[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port == 0)
        {
            problem = $"'{hostPort[(colon + 1)..]}' is not a port (1-65535)";
            return false;
        }
        destination = (address, port, protocol);
        problem = "";
        return true;
    }

    /// <summary>Parses the command line's words; they were validated by the parser already.</summary>
    public static ExplainRequest Parse(string from, string source, string destination)
    {
        var origin = TrafficOrigins.Parse(from) ?? throw new FormatException($"'{from}' is not an origin");
        if (!TryParseSource(source, out var client))
            throw new FormatException($"'{source}' is not an IPv4 address");
        if (!TryParseDestination(destination, out var target, out var problem))
            throw new FormatException(problem);
        return new ExplainRequest(origin, client, target.Address, target.Port, target.Protocol);
    }
}
