using System.Globalization;
using System.Text;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Options;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Cli;

/// <summary>
/// The external-traffic parts of `dump`: the mode settings in pr_config (the node's mode, its address, the tunnel and
/// the SNAT ports), a frontend's own mode (the Service's annotation), and what a conntrack entry carries for the modes
/// (its flags, the SNAT peer, the tunnel peer, the tunnel-return type). Pure: from map values to text and JSON rows.
/// </summary>
public static class ExternalTrafficDump
{
    /// <summary>
    /// pr_config's many-node fields as the dataplane applies them: a zero field is its <c>PR_DEFAULT_*</c>, each on its own, and
    /// a SNAT maximum below the minimum is the minimum (<c>pr_tunnel_config</c> in bpf-c/include/pr_tunnel.h).
    /// </summary>
    public sealed record Settings(string Mode, string? NodeAddress, int TunnelPort, uint TunnelVni, int TunnelMtu, int TcpMss, int SnatPortMin,
        int SnatPortMax, IReadOnlyList<string> Defaulted);

    /// <summary>The settings of <paramref name="config"/>, or null when pr_config was never written.</summary>
    public static Settings? Read(DataplaneConfig? config)
    {
        if (config is not { } c)
            return null;
        var m = c.MultiNode;
        var defaulted = new List<string>();
        uint Or(uint value, uint fallback, string name)
        {
            if (value != 0)
                return value;
            defaulted.Add(name);
            return fallback;
        }
        var port = (int)Or(m.TunnelPort, MultiNodeConfig.DefaultTunnelPort, "tunnel port");
        var vni = Or(m.TunnelVni, MultiNodeConfig.DefaultTunnelVni, "VNI");
        var mtu = (int)Or(m.TunnelMtu, MultiNodeConfig.DefaultTunnelMtu, "tunnel MTU");
        var snatMin = (int)Or(m.SnatPortMin, MultiNodeConfig.DefaultSnatPortMin, "SNAT port min");
        var snatMax = Math.Max((int)Or(m.SnatPortMax, MultiNodeConfig.DefaultSnatPortMax, "SNAT port max"), snatMin);
        return new Settings(ExternalTrafficOptions.Name(m.Mode), m.NodeAddress?.ToString(), port, vni, mtu, mtu - 40, snatMin, snatMax, defaulted);
    }

    public static void AppendText(StringBuilder text, Settings? settings)
    {
        if (settings is null)
        {
            text.Append("\nEXTERNAL TRAFFIC TO OTHER NODES (pr_config unwritten: tunnel mode, no node address)\n");
            return;
        }
        text.Append($"\nEXTERNAL TRAFFIC TO OTHER NODES (mode {settings.Mode}; a Service's annotation wins, shown as mode= on its frontends)\n");
        text.Append(settings.NodeAddress is { } address
            ? $"  node address {address} (SNAT source, tunnel source)\n"
            : "  node address: none: a backend on another node is reached as on one node (DNAT, routed by the kernel)\n");
        text.Append($"  Geneve UDP {settings.TunnelPort}, VNI 0x{settings.TunnelVni.ToString("x", CultureInfo.InvariantCulture)} ({settings.TunnelVni}), " +
                    $"tunnel MTU {settings.TunnelMtu} (TCP MSS clamped to {settings.TcpMss}); SNAT ports {settings.SnatPortMin}-{settings.SnatPortMax}\n");
        if (settings.Defaulted.Count > 0)
            text.Append($"  (unset, the dataplane's defaults: {string.Join(", ", settings.Defaulted)})\n");
    }

    /// <summary>The mode a frontend's flags name (its Service's annotation), or null: the node's mode.</summary>
    public static string? FrontendMode(NatFrontendValue value) =>
        ExternalModes.ModeOf(value.Flags) is { } mode ? ExternalTrafficOptions.Name(mode) : null;

    /// <summary>An entry type as `dump` writes it: forward, reverse, tunnel-return.</summary>
    public static string TypeName(ConntrackType type) => type switch
    {
        ConntrackType.Forward => "forward",
        ConntrackType.Reverse => "reverse",
        ConntrackType.TunnelReturn => "tunnel-return",
        _ => $"type-{(byte)type}",
    };

    /// <summary>The entry's flags by name (affinity, hairpin, local-vip, snat, tunnel, dsr).</summary>
    public static IReadOnlyList<string> FlagNames(ConntrackFlags flags)
    {
        var names = new List<string>();
        foreach (var (flag, name) in FlagTable)
            if (flags.HasFlag(flag))
                names.Add(name);
        var unknown = (byte)flags & ~FlagTable.Aggregate(0, (all, entry) => all | (byte)entry.Flag);
        if (unknown != 0)
            names.Add($"0x{unknown:x2}");
        return names;
    }

    private static readonly (ConntrackFlags Flag, string Name)[] FlagTable =
    [
        (ConntrackFlags.Affinity, "affinity"), (ConntrackFlags.Hairpin, "hairpin"), (ConntrackFlags.LocalVip, "local-vip"),
        (ConntrackFlags.Snat, "snat"), (ConntrackFlags.Tunnel, "tunnel"), (ConntrackFlags.Dsr, "dsr"),
    ];

    /// <summary>The SNAT peer as address:port (a forward entry: the source its packets get; a reverse one: the client), or null.</summary>
    public static string? Peer(ConntrackValue4 value) => value.PeerAddress is { } peer ? $"{peer}:{value.PeerPort}" : null;

    /// <summary>The text after a conntrack row: flags, then the peer and the tunnel's other end when there are any.</summary>
    public static string Extra(ConntrackValue4 value)
    {
        var parts = new List<string>();
        if (FlagNames(value.FlowFlags) is { Count: > 0 } flags)
            parts.Add(string.Join(",", flags));
        if (Peer(value) is { } peer)
            parts.Add(value.Type == ConntrackType.Forward ? $"snat-source {peer}" : $"client {peer}");
        if (value.TunnelAddress is { } tunnel)
            parts.Add($"tunnel-peer {tunnel}");
        return string.Join("  ", parts);
    }
}
