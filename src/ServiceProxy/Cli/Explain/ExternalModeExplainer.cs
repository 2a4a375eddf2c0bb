using System.Globalization;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Options;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Cli.Explain;

/// <summary>
/// The external service mode step of <c>explain --from external</c>: which mode the frontend uses for a new flow whose
/// chosen backend is on another node (the frontend's <c>PR_FE_F_MODE_*</c> flag, set from the Service's annotation, else
/// pr_config's <c>ext_mode</c>), and what that mode does with the packet (pr_map_abi.h, PR_CT_F_SNAT/_TUNNEL/_DSR). Which
/// backends are on another node is pr_routes4's to say (the route step before it; an address without an entry is this
/// node's): with routes, the step is left out when none of the possible backends is remote.
/// </summary>
public static class ExternalModeExplainer
{
    /// <param name="routes">Where each possible backend lives (the route step's); empty: not known (no routes map, or it is empty).</param>
    /// <returns>null when <paramref name="routes"/> puts every possible backend on this node: no mode applies.</returns>
    public static (ExternalModeInfo Info, string Text)? Describe(DataplaneConfig? config, FrontendInfo frontend, L4Protocol protocol,
        IReadOnlyList<BackendRoute>? routes = null)
    {
        ArgumentNullException.ThrowIfNull(frontend);
        var known = routes is { Count: > 0 };
        if (known && routes!.All(route => route.Owner != "remote"))
            return null;
        var remote = known ? "a remote backend above" : "a backend on another node (pr_routes4)";
        var local = known && routes!.All(route => route.Owner == "remote") ? "" : "; a backend on this node: DNAT here";
        var own = ExternalModes.ModeOf(frontend.Value.Flags);
        var mode = own ?? config?.ExternalMode ?? ExternalServiceMode.Tunnel;
        var source = own is not null ? "annotation" : config is null ? "unwritten" : "default";
        var why = source switch
        {
            "annotation" => $"the Service's annotation {ExternalTrafficOptions.ModeAnnotation}",
            "default" => "the node's --external-service-mode (pr_config), the Service has no annotation",
            _ => "pr_config was never written: the dataplane's default",
        };
        var info = new ExternalModeInfo(ExternalTrafficOptions.Name(mode), source);
        var multiNode = config?.MultiNode;
        if (multiNode is not null && multiNode.NodeAddress is null)
            return (info, $"{info.Mode} ({why}), but pr_config holds no node address: this node sends no external traffic to other nodes, " +
                          "a backend there is reached as on one node (DNAT here, routed by the kernel)");

        var node = multiNode?.NodeAddress?.ToString() ?? "this node's address";
        // The values the dataplane applies (zero fields: its defaults), as dump shows them.
        var (port, vni, mtu, snatMin, snatMax) = ExternalTrafficDump.Read(config ?? DataplaneConfig.Default) is { } applied
            ? (applied.TunnelPort, applied.TunnelVni, applied.TunnelMtu, applied.SnatPortMin, applied.SnatPortMax)
            : default;
        var geneve = $"Geneve UDP {port}, VNI 0x{vni.ToString("x", CultureInfo.InvariantCulture)}";
        var mss = protocol == L4Protocol.Tcp
            ? $"; the MSS of the SYN and of the backend's SYN-ACK is clamped to {mtu - 40} (tunnel MTU {mtu} - 40, tcp_mss_clamped), " +
              "a bigger packet gets ICMP fragmentation-needed (drop_too_big)"
            : $"; a packet over the tunnel MTU {mtu} gets ICMP fragmentation-needed (drop_too_big)";
        var what = mode switch
        {
            ExternalServiceMode.Snat =>
                $"its source also becomes {node} with a port of {snatMin}-{snatMax} (nat_snat) and it is routed there: the backend sees this node, not the client; " +
                "the replies come back here and get the client's address back",
            ExternalServiceMode.Dsr =>
                $"DNAT, then encapsulated to the backend's node ({geneve}, with an option naming {frontend.Key}; tunnel_encap): the backend sees the client, " +
                $"and its node answers the client directly from {frontend.Key} (dsr_reply there), the replies never pass here" + mss,
            _ =>
                $"DNAT, then encapsulated to the backend's node ({geneve}; tunnel_encap): the backend sees the client; the replies come back " +
                "through the tunnel and leave from here" + mss,
        };
        return (info, $"{info.Mode} ({why}); {remote}: {what}{local}");
    }

    /// <summary>What a tracked forward entry's mode flags add to its description ("" for a flow of this node alone).</summary>
    public static string FlowText(ConntrackValue4 value)
    {
        var flags = value.FlowFlags;
        if (flags.HasFlag(ConntrackFlags.Snat))
            return $", SNATed to {value.PeerAddress}:{value.PeerPort} (snat mode)";
        if (flags.HasFlag(ConntrackFlags.Dsr))
            return $", encapsulated to node {value.TunnelAddress} (dsr mode: the replies do not come back here)";
        if (flags.HasFlag(ConntrackFlags.Tunnel))
            return $", encapsulated to node {value.TunnelAddress} (tunnel mode)";
        return "";
    }
}
