using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using ProxyReplacement.Bench.Workload;

namespace ProxyReplacement.Bench.Baseline;

/// <summary>
/// The iptables-restore input that kube-proxy's iptables mode writes for ClusterIP Services with ready
/// endpoints, modelled on its chain layout (this is our own model of it, not its code):
/// <list type="bullet">
/// <item>nat: the jump rules from PREROUTING/OUTPUT/POSTROUTING; <c>KUBE-SERVICES</c> with one rule per
/// service port (<c>-d VIP/32 -p tcp --dport P -j KUBE-SVC-…</c>) and the final <c>addrtype LOCAL</c> jump to
/// <c>KUBE-NODEPORTS</c>; per service port a <c>KUBE-SVC-…</c> chain (masquerade mark for sources outside the
/// cluster CIDR, then one rule per endpoint with <c>-m statistic --mode random --probability 1/(n-i)</c>, the
/// last unconditional); per endpoint a <c>KUBE-SEP-…</c> chain (hairpin masquerade mark, <c>DNAT --to-destination</c>);
/// the mark-masquerade chains <c>KUBE-MARK-MASQ</c> and <c>KUBE-POSTROUTING</c>.</item>
/// <item>filter: <c>KUBE-FORWARD</c> (drop INVALID, accept marked and established) and the empty per-kind
/// chains kube-proxy declares (no per-Service filter rules exist for Services that have endpoints).</item>
/// </list>
/// Chain names are <c>KUBE-SVC-</c>/<c>KUBE-SEP-</c> plus 16 base32 characters of a SHA-256 of the service port
/// (and endpoint), as kube-proxy names them; rules carry kube-proxy's comments (they cost parse time too), except
/// that above 1,000 endpoints kube-proxy's "large cluster mode" leaves them off the per-endpoint rules, and so do we.
/// NodePorts (the first <see cref="SyntheticServices.NodePorts"/> Services; none in the ClusterIP suites): per service
/// port one rule in the nat <c>KUBE-NODEPORTS</c> chain (<c>-p tcp --dport NODEPORT -j KUBE-EXT-…</c>), reached from the
/// last rule of <c>KUBE-SERVICES</c> (<c>addrtype --dst-type LOCAL</c>), and a <c>KUBE-EXT-…</c> chain (same hash as the
/// <c>KUBE-SVC-…</c> chain) that marks the packet for masquerading (externalTrafficPolicy: Cluster) and jumps to
/// <c>KUBE-SVC-…</c>, as kube-proxy writes them for NodePort Services whose endpoints are ready.
/// Not modelled: external IPs, load balancers, session affinity, the no-endpoints reject rules,
/// the firewall and health-check chains, and the generation of this text (only iptables-restore is timed).
/// </summary>
public sealed class KubeProxyRuleset
{
    public const string ClusterCidr = "10.201.0.0/16";
    private const string ServicePortName = "http";

    /// <summary>kube-proxy's threshold for large cluster mode (total endpoints).</summary>
    public const int LargeClusterEndpoints = 1000;

    private readonly SyntheticServices _cluster;
    private readonly bool _largeCluster;

    public KubeProxyRuleset(SyntheticServices cluster)
    {
        _cluster = cluster;
        _largeCluster = (long)cluster.Count * cluster.EndpointsPerService > LargeClusterEndpoints;
    }

    /// <summary>The full restore of a cold start: both tables with every chain and rule, jump rules included.</summary>
    public void WriteFull(TextWriter text)
    {
        WriteFilter(text, declareBuiltins: true);
        text.Write("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n");
        WriteNatFixedChainDeclarations(text);
        for (var i = 0; i < _cluster.Count; i++)
        {
            text.Write(':'); text.Write(ServiceChain(i)); text.Write(" - [0:0]\n");
            if (_cluster.IsNodePort(i))
            {
                text.Write(':'); text.Write(ExternalChain(i)); text.Write(" - [0:0]\n");
            }
            for (var j = 0; j < _cluster.EndpointsPerService; j++)
            {
                text.Write(':'); text.Write(EndpointChain(i, _cluster.Endpoint(i, j))); text.Write(" - [0:0]\n");
            }
        }
        text.Write("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n");
        text.Write("-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n");
        text.Write("-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n");
        WriteNatFixedRules(text);
        WriteServicesChain(text);
        WriteNodePortsChain(text);
        for (var i = 0; i < _cluster.Count; i++)
            WriteServiceChains(text, i, Enumerable.Range(0, _cluster.EndpointsPerService).Select(j => _cluster.Endpoint(i, j)).ToList());
        text.Write("COMMIT\n");
    }

    /// <summary>
    /// What kube-proxy restores (with <c>--noflush</c>) when one endpoint of Service <paramref name="index"/> is
    /// replaced: the filter chains and fixed nat chains again, the whole <c>KUBE-SERVICES</c> chain, the changed
    /// service's <c>KUBE-SVC</c> chain and new <c>KUBE-SEP</c> chain, and the deletion of the stale <c>KUBE-SEP</c> chain.
    /// </summary>
    public void WriteEndpointChange(TextWriter text, int index, IReadOnlyList<IPAddress> before, IReadOnlyList<IPAddress> after)
    {
        WriteFilter(text, declareBuiltins: false);
        text.Write("*nat\n");
        WriteNatFixedChainDeclarations(text);
        text.Write(':'); text.Write(ServiceChain(index)); text.Write(" - [0:0]\n");
        var added = after.Except(before).ToList();
        var removed = before.Except(after).ToList();
        foreach (var endpoint in added.Concat(removed))
        {
            text.Write(':'); text.Write(EndpointChain(index, endpoint)); text.Write(" - [0:0]\n");
        }
        WriteNatFixedRules(text);
        WriteServicesChain(text);
        WriteNodePortsChain(text);
        WriteServiceChain(text, index, after);
        foreach (var endpoint in added)
            WriteEndpointChain(text, index, endpoint);
        foreach (var endpoint in removed)
        {
            text.Write("-X "); text.Write(EndpointChain(index, endpoint)); text.Write('\n');
        }
        text.Write("COMMIT\n");
    }

    public static string ServiceChain(int index) => "KUBE-SVC-" + Hash($"{SyntheticServices.Namespace}/{SyntheticServices.ServiceName(index)}:{ServicePortName}tcp");

    /// <summary>The externally-reached chain of a NodePort (or LoadBalancer) service port: <c>KUBE-EXT-</c> with the KUBE-SVC hash.</summary>
    public static string ExternalChain(int index) => "KUBE-EXT-" + Hash($"{SyntheticServices.Namespace}/{SyntheticServices.ServiceName(index)}:{ServicePortName}tcp");

    public static string EndpointChain(int index, IPAddress endpoint) =>
        "KUBE-SEP-" + Hash($"{SyntheticServices.Namespace}/{SyntheticServices.ServiceName(index)}:{ServicePortName}tcp{endpoint}:{SyntheticServices.TargetPort}");

    private static void WriteFilter(TextWriter text, bool declareBuiltins)
    {
        text.Write("*filter\n");
        if (declareBuiltins)
            text.Write(":INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
        text.Write(":KUBE-NODEPORTS - [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-EXTERNAL-SERVICES - [0:0]\n:KUBE-FIREWALL - [0:0]\n" +
                   ":KUBE-FORWARD - [0:0]\n:KUBE-PROXY-FIREWALL - [0:0]\n");
        if (declareBuiltins)
            text.Write("-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n" +
                       "-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n");
        text.Write("-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n" +
                   "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT\n" +
                   "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n");
        text.Write("COMMIT\n");
    }

    private static void WriteNatFixedChainDeclarations(TextWriter text) =>
        text.Write(":KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n");

    private static void WriteNatFixedRules(TextWriter text) =>
        text.Write("-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n" +
                   "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n" +
                   "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n" +
                   "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n");

    private void WriteServicesChain(TextWriter text)
    {
        for (var i = 0; i < _cluster.Count; i++)
        {
            text.Write("-A KUBE-SERVICES -m comment --comment \"");
            text.Write(PortName(i));
            text.Write(" cluster IP\" -m tcp -p tcp -d ");
            text.Write(SyntheticServices.ClusterIP(i).ToString());
            text.Write("/32 --dport ");
            text.Write(SyntheticServices.ServicePort.ToString(CultureInfo.InvariantCulture));
            text.Write(" -j ");
            text.Write(ServiceChain(i));
            text.Write('\n');
        }
        text.Write("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" " +
                   "-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n");
    }

    /// <summary>The nat KUBE-NODEPORTS chain: one rule per NodePort service port, in Service order (the chain is declared, so flushed, with the fixed chains).</summary>
    private void WriteNodePortsChain(TextWriter text)
    {
        for (var i = 0; i < _cluster.NodePorts; i++)
            text.Write($"-A KUBE-NODEPORTS -m comment --comment \"{PortName(i)}\" -m tcp -p tcp --dport {SyntheticServices.NodePortOf(i)} -j {ExternalChain(i)}\n");
    }

    private void WriteServiceChains(TextWriter text, int index, IReadOnlyList<IPAddress> endpoints)
    {
        if (_cluster.IsNodePort(index))
        {
            var chain = ExternalChain(index);
            text.Write($"-A {chain} -m comment --comment \"masquerade traffic for {PortName(index)} external destinations\" -j KUBE-MARK-MASQ\n");
            text.Write($"-A {chain} -j {ServiceChain(index)}\n");
        }
        WriteServiceChain(text, index, endpoints);
        foreach (var endpoint in endpoints)
            WriteEndpointChain(text, index, endpoint);
    }

    private void WriteServiceChain(TextWriter text, int index, IReadOnlyList<IPAddress> endpoints)
    {
        var chain = ServiceChain(index);
        var name = PortName(index);
        text.Write($"-A {chain} -m comment --comment \"{name} cluster IP\" -m tcp -p tcp -d {SyntheticServices.ClusterIP(index)}/32 " +
                   $"--dport {SyntheticServices.ServicePort} ! -s {ClusterCidr} -j KUBE-MARK-MASQ\n");
        for (var j = 0; j < endpoints.Count; j++)
        {
            text.Write(_largeCluster ? $"-A {chain}" : $"-A {chain} -m comment --comment \"{name} -> {endpoints[j]}:{SyntheticServices.TargetPort}\"");
            if (j < endpoints.Count - 1)
                text.Write(string.Create(CultureInfo.InvariantCulture, $" -m statistic --mode random --probability {1.0 / (endpoints.Count - j):F10}"));
            text.Write($" -j {EndpointChain(index, endpoints[j])}\n");
        }
    }

    private void WriteEndpointChain(TextWriter text, int index, IPAddress endpoint)
    {
        var chain = EndpointChain(index, endpoint);
        var comment = _largeCluster ? "" : $" -m comment --comment {PortName(index)}";
        text.Write($"-A {chain}{comment} -s {endpoint}/32 -j KUBE-MARK-MASQ\n");
        text.Write($"-A {chain}{comment} -m tcp -p tcp -j DNAT --to-destination {endpoint}:{SyntheticServices.TargetPort}\n");
    }

    private static string PortName(int index) => $"{SyntheticServices.Namespace}/{SyntheticServices.ServiceName(index)}:{ServicePortName}";

    /// <summary>16 characters of the base32 (RFC 4648) SHA-256 of <paramref name="text"/>.</summary>
    private static string Hash(string text)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(text), digest);
        Span<char> name = stackalloc char[16];
        // 16 characters × 5 bits = 80 bits = the first 10 bytes
        ulong high = 0;
        for (var b = 0; b < 8; b++)
            high = high << 8 | digest[b];
        var low = (ulong)(digest[8] << 8 | digest[9]);
        for (var c = 0; c < 16; c++)
        {
            var bit = c * 5; // position from the most significant bit of the 80
            int value;
            if (bit + 5 <= 64)
                value = (int)(high >> (64 - bit - 5) & 31);
            else if (bit >= 64)
                value = (int)(low >> (16 - (bit - 64) - 5) & 31);
            else
                value = (int)((high << (bit + 5 - 64) | low >> (16 - (bit + 5 - 64))) & 31);
            name[c] = alphabet[value];
        }
        return new string(name);
    }
}
