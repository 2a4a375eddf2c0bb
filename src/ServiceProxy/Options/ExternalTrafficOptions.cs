using System.Globalization;
using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Options;

/// <summary>
/// How traffic from outside the node reaches a backend on another node (<c>--external-service-mode</c>, Calico's
/// <c>bpfExternalServiceMode</c> with SNAT as a third) and the settings of the tunnel and of SNAT. The daemon writes them
/// into pr_config (<see cref="MultiNodeConfig"/>); a Service may choose another mode with the annotation
/// <see cref="ModeAnnotation"/>.
/// </summary>
public sealed record ExternalTrafficOptions
{
    /// <summary>The per-Service annotation that overrides <see cref="Mode"/> for that Service's frontends.</summary>
    public const string ModeAnnotation = Model.Service.ExternalServiceModeAnnotation;

    /// <summary>The smallest tunnel MTU accepted: IPv4's minimum datagram every host must take (RFC 791).</summary>
    public const int MinTunnelMtu = 576;

    /// <summary>The largest tunnel MTU: an inner packet plus the encapsulation must still fit in an IPv4 packet.</summary>
    public const int MaxTunnelMtu = 65535 - MultiNodeConfig.EncapsulationOverhead;

    /// <summary>The largest Geneve VNI: the field has 24 bits.</summary>
    public const uint MaxTunnelVni = (1u << 24) - 1;

    /// <summary>Calico's <c>bpfPSNATPorts</c>: clear of the kernel's ephemeral ports (32768-60999) and the NodePorts.</summary>
    public static readonly PortRange DefaultSnatPorts = new(MultiNodeConfig.DefaultSnatPortMin, MultiNodeConfig.DefaultSnatPortMax);

    public ExternalServiceMode Mode { get; init; } = ExternalServiceMode.Tunnel;

    /// <summary>The Geneve UDP port; it must be open between the nodes.</summary>
    public int TunnelPort { get; init; } = MultiNodeConfig.DefaultTunnelPort;

    public uint TunnelVni { get; init; } = MultiNodeConfig.DefaultTunnelVni;

    /// <summary>The largest inner IP packet the tunnel carries; 0: the smallest host interface MTU minus the encapsulation.</summary>
    public int TunnelMtu { get; init; }

    /// <summary>The source ports SNAT mode gives flows (on this node's address).</summary>
    public PortRange SnatPorts { get; init; } = DefaultSnatPorts;

    /// <summary>The accepted mode names, in the order help and errors list them.</summary>
    public static readonly IReadOnlyList<string> ModeNames = ["snat", "tunnel", "dsr"];

    /// <summary>A mode by its name, in any case (Calico writes <c>Tunnel</c> and <c>DSR</c>).</summary>
    public static bool TryParseMode(string? text, out ExternalServiceMode mode)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "snat":
                mode = ExternalServiceMode.Snat;
                return true;
            case "tunnel":
                mode = ExternalServiceMode.Tunnel;
                return true;
            case "dsr":
                mode = ExternalServiceMode.Dsr;
                return true;
            default:
                mode = default;
                return false;
        }
    }

    public static string Name(ExternalServiceMode mode) => mode switch
    {
        ExternalServiceMode.Snat => "snat",
        ExternalServiceMode.Tunnel => "tunnel",
        ExternalServiceMode.Dsr => "dsr",
        _ => $"unknown ({(uint)mode})",
    };

    // ---- the option setters' rules (ProxyOptionsBuilder) ------------------------------------------------------------

    internal static ExternalServiceMode ParseMode(string name, string value) =>
        TryParseMode(value, out var mode)
            ? mode
            : throw new OptionException(name, $"'{value}' is not an external service mode; accepted: snat, tunnel, dsr");

    internal static int ParseTunnelPort(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 1 and <= 65535
            ? port
            : throw new OptionException(name, $"'{value}' is not a UDP port; accepted: 1-65535");

    /// <summary>Decimal, or hexadecimal with 0x (the default is written 0x5052).</summary>
    internal static uint ParseTunnelVni(string name, string value)
    {
        var parsed = value.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? uint.TryParse(value.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var vni)
            : uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out vni);
        // 0 is refused: the dataplane may read a zero field as "unset", and no node should depend on which.
        if (parsed && vni is >= 1 and <= MaxTunnelVni)
            return vni;
        throw new OptionException(name, $"'{value}' is not a Geneve VNI; accepted: 1-{MaxTunnelVni} (24 bits), decimal or 0x hexadecimal");
    }

    internal static int ParseTunnelMtu(string name, string value)
    {
        if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var mtu) && (mtu == 0 || mtu is >= MinTunnelMtu and <= MaxTunnelMtu))
            return mtu;
        throw new OptionException(name,
            $"'{value}' is not a tunnel MTU; accepted: {MinTunnelMtu}-{MaxTunnelMtu} (65535 - {MultiNodeConfig.EncapsulationOverhead} bytes of encapsulation), or 0 for the host interfaces' MTU - {MultiNodeConfig.EncapsulationOverhead}");
    }

    internal static PortRange ParseSnatPorts(string name, string value)
    {
        try
        {
            return PortRange.Parse(value);
        }
        catch (FormatException error)
        {
            throw new OptionException(name, $"{error.Message}; expected FIRST-LAST, e.g. 20000-29999");
        }
    }

    /// <summary>
    /// The cross-option rule: a port of this node's address is either a NodePort or a SNAT source, never both, so a packet
    /// to it is unambiguous (a SNATed flow's reply, or a client of the NodePort) whatever order the dataplane looks in.
    /// </summary>
    internal static void Validate(ExternalTrafficOptions options, PortRange nodePorts)
    {
        var snat = options.SnatPorts;
        if (snat.First <= nodePorts.Last && nodePorts.First <= snat.Last)
            throw new OptionException("--snat-port-range",
                $"{snat} overlaps --service-node-port-range {nodePorts}; choose SNAT ports outside the NodePort range (default {DefaultSnatPorts})");
    }
}
