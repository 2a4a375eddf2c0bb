using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Daemon;

namespace ProxyReplacement.ServiceProxy.Cli;

/// <summary>
/// `service-proxy dump`: the live maps as readable tables (each frontend with its backends, Service
/// CIDRs, routes, conntrack, affinity, verdict counters) or as JSON (<c>-o json</c>). Reads the pins only.
/// </summary>
public static class DumpCommand
{
    /// <summary>
    /// Which set serves which traffic of a frontend, and why, as the maps say it (null when the cluster set serves
    /// everything, the usual case): "external traffic: local set, 1 (eTP=Local); internal: cluster set, 3".
    /// </summary>
    public static string? SetsText(NatFrontendValue value)
    {
        var externalLocal = value.Flags.HasFlag(FrontendFlags.ExternalLocal);
        var internalLocal = value.Flags.HasFlag(FrontendFlags.InternalLocal);
        if (!externalLocal && !internalLocal && value.LocalCount == 0)
            return null;
        string Set(bool local, string policy) => local
            ? $"local set, {value.LocalCount} endpoint(s) of this node ({policy}=Local){(value.LocalCount == 0 ? ": dropped" : "")}"
            : $"cluster set, {value.BackendCount} endpoint(s)";
        return $"external traffic: {Set(externalLocal, "eTP")}; internal traffic: {Set(internalLocal, "iTP")}";
    }

    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Reflection-based JSON over this assembly's own types, which the trimmed publish keeps whole (TrimmerRootAssembly in ServiceProxy.csproj, reflection enabled there)")]
    public static string Render(PinnedCoreMaps maps, bool json, string? pinRoot = null)
    {
        var now = Monotonic.NowNs();
        var frontends = maps.Frontends.ReadAll().OrderBy(e => e.Key.ToString(), StringComparer.Ordinal).ToList();
        var backends = maps.Backends.ReadAll().ToLookup(e => e.Key.ServiceId);
        var conntrack = maps.Conntrack.ReadAll()
            .OrderBy(e => e.Value.Type).ThenBy(e => e.Key.ToString(), StringComparer.Ordinal).ToList();
        var affinity = maps.Affinity.ReadAll().OrderBy(e => e.Key.Frontend.ToString(), StringComparer.Ordinal).ToList();
        var cidrs = maps.ServiceCidrs.ReadAll().Select(e => e.Key.ToString()).Order(StringComparer.Ordinal).ToList();
        var counters = maps.ReadCounters().Where(c => c.Value > 0).OrderBy(c => c.Key).ToList();
        var socketLb = SocketLbDump.Read(maps, pinRoot);
        var routes = RoutesDump.Read(maps.Routes);
        var policy = PolicyDump.Read(maps.PolicyEndpoints, maps.PolicyPorts, maps.PolicyPeers, pinRoot is null ? null : Policy.PolicyNames.Read(Policy.PolicyNames.PathFor(pinRoot)));
        var externalTraffic = ExternalTrafficDump.Read(maps.ReadConfig());
        var fastPath = FastPathDump.Read(maps.Direct, maps.ReadConfig());
        var names = maps.ServiceNames.ReadAll().ToDictionary(e => e.Key, e => e.Value);
        var sourceRanges = maps.LbSourceRanges.ReadAll().ToLookup(e => e.Key.ServiceId, e => e.Key.Range);
        var nodeAddresses = frontends.Where(fe => fe.Value.Kind == FrontendKind.NodePort).Select(fe => fe.Key.Vip)
            .Distinct().OrderBy(ip => ip.GetAddressBytes(), Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b)))
            .Select(ip => ip.ToString()).ToList();

        var frontendRows = frontends.Select(fe => new
        {
            frontend = fe.Key.ToString(),
            kind = fe.Value.Kind.ToString(),
            service = names.TryGetValue(fe.Value.ServiceId, out var name) ? $"{name.Namespace}/{name.Name}" : null,
            port = names.TryGetValue(fe.Value.ServiceId, out var portName) ? portName.Port : null,
            serviceId = fe.Value.ServiceId,
            sourceRanges = fe.Value.Flags.HasFlag(FrontendFlags.SourceRanges)
                ? sourceRanges[fe.Value.ServiceId].Select(range => range.ToString()).ToList()
                : null,
            backendCount = fe.Value.BackendCount,
            localCount = fe.Value.LocalCount,
            sets = SetsText(fe.Value),
            affinityTimeoutSeconds = fe.Value.Flags.HasFlag(FrontendFlags.Affinity) ? (uint?)fe.Value.AffinityTimeoutSeconds : null,
            externalMode = ExternalTrafficDump.FrontendMode(fe.Value), // null: the node's mode (externalTraffic.mode)
            fastPathSlot = fastPath?.SlotOf(fe.Key), // null: new flows take the hash lookups
            backends = backends[fe.Value.ServiceId].OrderBy(b => b.Key.Ordinal)
                .Select(b => new
                {
                    ordinal = b.Key.Ordinal >= NatFrontendValue.LocalOrdinalBase ? $"L{b.Key.Ordinal - NatFrontendValue.LocalOrdinalBase}" : b.Key.Ordinal.ToString(),
                    address = b.Value.ToString(),
                    counted = b.Key.Ordinal >= NatFrontendValue.LocalOrdinalBase
                        ? b.Key.Ordinal - NatFrontendValue.LocalOrdinalBase < fe.Value.LocalCount
                        : b.Key.Ordinal < fe.Value.BackendCount,
                })
                .ToList(),
        }).ToList();
        var conntrackRows = conntrack.Select(ct => new
        {
            type = ExternalTrafficDump.TypeName(ct.Value.Type),
            protocol = ct.Key.L4.ToString().ToLowerInvariant(),
            source = $"{ct.Key.Source}:{ct.Key.SourcePort}",
            destination = $"{ct.Key.Destination}:{ct.Key.DestinationPort}",
            nat = $"{ct.Value.NatAddress}:{ct.Value.NatPort}",
            serviceId = ct.Value.ServiceId,
            tcpState = ct.Value.TcpState.ToString().ToLowerInvariant(),
            flags = ExternalTrafficDump.FlagNames(ct.Value.FlowFlags),
            peer = ExternalTrafficDump.Peer(ct.Value),
            tunnelPeer = ct.Value.TunnelAddress?.ToString(),
            ageSeconds = Seconds(now, ct.Value.CreatedNs),
            idleSeconds = Seconds(now, ct.Value.LastSeenNs),
        }).ToList();
        var affinityRows = affinity.Select(a => new
        {
            frontend = a.Key.Frontend.ToString(),
            client = a.Key.Client.ToString(),
            hostNetns = a.Key.IsHostClient,
            backend = $"{a.Value.BackendAddress}:{a.Value.BackendPort}",
            ordinal = a.Value.Ordinal,
            idleSeconds = Seconds(now, a.Value.LastUsedNs),
        }).ToList();

        if (json)
        {
            return JsonSerializer.Serialize(new
            {
                frontends = frontendRows,
                nodePortAddresses = nodeAddresses,
                serviceCidrs = cidrs,
                routes = routes.Select(r => new { prefix = r.Prefix, owner = r.Owner, nodeAddress = r.NodeAddress, node = r.Node, flags = r.Flags }),
                policy = new
                {
                    endpoints = policy.Endpoints.Select(e => new { address = e.Address, pod = e.Pod, ingressSet = e.IngressSet, egressSet = e.EgressSet }),
                    sets = policy.Sets.Select(set => new
                    {
                        set = set.Set,
                        ports = set.Ports,
                        classes = set.Classes.Select(c => new
                        {
                            @class = c.Class,
                            peers = c.Peers.Select(p => new { peer = p.Peer, verdict = p.Verdict, rule = p.Rule, ruleName = p.RuleName }),
                        }),
                    }),
                },
                fastPath = fastPath is null ? null : new { slots = fastPath.Slots, mask = fastPath.Mask, used = fastPath.Used, unusable = fastPath.Unusable },
                conntrack = conntrackRows,
                affinity = affinityRows,
                externalTraffic = externalTraffic is { } x
                    ? new
                    {
                        mode = x.Mode, nodeAddress = x.NodeAddress, tunnelPort = x.TunnelPort, tunnelVni = x.TunnelVni, tunnelMtu = x.TunnelMtu,
                        tcpMss = x.TcpMss, snatPortMin = x.SnatPortMin, snatPortMax = x.SnatPortMax, defaulted = x.Defaulted,
                    }
                    : null, // pr_config never written
                socketLb = new
                {
                    mode = socketLb.Mode,
                    hostNetnsCookie = socketLb.Host.Cookie,
                    hostNetnsIsDumpNamespace = socketLb.Host.IsOwnNamespace,
                    hooks = socketLb.Hooks.Select(h => new { name = h.Name, linkId = h.LinkId, programId = h.ProgramId, cgroupId = h.CgroupId, cgroupPath = h.CgroupPath }),
                    translatedSockets = socketLb.Reverse.Select(r => new { cookie = r.Cookie, backend = r.Backend, service = r.Service }),
                },
                counters = counters.ToDictionary(c => ProxyMetrics.SnakeCase(c.Key.ToString()), c => c.Value),
            }, new JsonSerializerOptions { WriteIndented = true });
        }

        var text = new StringBuilder();
        text.Append($"FRONTENDS ({frontendRows.Count})\n");
        foreach (var fe in frontendRows)
        {
            var affinityText = fe.affinityTimeoutSeconds is { } t ? $"  affinity ClientIP {t}s" : "";
            var reject = fe.backendCount == 0 ? "  (no backends: rejected)" : "";
            var serviceText = fe.service is null ? $"svc {fe.serviceId}" : $"{fe.service}{(fe.port is { Length: > 0 } p ? ":" + p : "")} (svc {fe.serviceId})";
            var rangesText = fe.sourceRanges is null ? "" : $"  source ranges {string.Join(",", fe.sourceRanges)}";
            var modeText = fe.externalMode is { } mode ? $"  mode={mode}" : "";
            var fastText = fe.fastPathSlot is null ? "" : "  fast path";
            text.Append($"  {fe.frontend,-26} {fe.kind,-12} {serviceText}  backends {fe.backendCount}{affinityText}{rangesText}{modeText}{fastText}{reject}\n");
            if (fe.sets is { } sets)
                text.Append($"      {sets}\n");
            foreach (var be in fe.backends)
                text.Append($"      #{be.ordinal,-3} {be.address}{(be.counted ? "" : "  (beyond count: being removed)")}\n");
        }
        FastPathDump.AppendText(text, fastPath);
        text.Append($"\nNODEPORT ADDRESSES ({nodeAddresses.Count})\n");
        if (nodeAddresses.Count > 0)
            text.Append($"  {string.Join(", ", nodeAddresses)}\n");
        text.Append($"\nSERVICE CIDRS ({cidrs.Count})\n");
        foreach (var cidr in cidrs)
            text.Append($"  {cidr}\n");
        RoutesDump.AppendText(text, routes);
        PolicyDump.AppendText(text, policy);
        text.Append($"\nCONNTRACK ({conntrackRows.Count})\n");
        if (conntrackRows.Count > 0)
            text.Append($"  {"TYPE",-13} {"PROTO",-5} {"SOURCE",-21} {"DESTINATION",-21} {"NAT",-21} {"STATE",-11} {"AGE",7} {"IDLE",7}  FLAGS, PEERS\n");
        foreach (var (entry, ct) in conntrack.Zip(conntrackRows))
            text.Append(($"  {ct.type,-13} {ct.protocol,-5} {ct.source,-21} {ct.destination,-21} {ct.nat,-21} {ct.tcpState,-11} {ct.ageSeconds,6:F0}s {ct.idleSeconds,6:F0}s" +
                         $"  {ExternalTrafficDump.Extra(entry.Value)}").TrimEnd() + "\n");
        text.Append($"\nAFFINITY ({affinityRows.Count})\n");
        foreach (var a in affinityRows)
            text.Append($"  {a.frontend,-26} client {(a.hostNetns ? "host netns" : a.client),-15} -> #{a.ordinal} {a.backend}  idle {a.idleSeconds:F0}s\n");
        ExternalTrafficDump.AppendText(text, externalTraffic);
        SocketLbDump.AppendText(text, socketLb);
        text.Append("\nCOUNTERS (packets; socket-hook calls for sock_*; summed over CPUs)\n");
        foreach (var (reason, value) in counters)
            text.Append($"  {ProxyMetrics.SnakeCase(reason.ToString()),-28} {value}\n");
        return text.ToString();
    }

    private static double Seconds(ulong now, ulong then) => now > then ? (now - then) / 1e9 : 0;
}
