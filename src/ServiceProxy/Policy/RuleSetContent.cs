using System.Text;
using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Policy;

/// <summary>One <c>pr_pol_ports4</c> entry of a set, without the set id: <see cref="Bits"/> leading bits of <see cref="Port"/> -> class.</summary>
public readonly record struct PortEntry(byte Protocol, ushort Port, int Bits, uint Class)
{
    /// <summary>The ports the entry matches.</summary>
    public (int First, int Last) Span => (Port, Port + (1 << (16 - Bits)) - 1);

    public override string ToString()
    {
        var (first, last) = Span;
        var protocol = Protocol switch { 6 => "tcp", 17 => "udp", 132 => "sctp", _ => "other" };
        var ports = Protocol == PolicyPortKey.OtherProtocol ? "" : first == last ? $" {first}" : first == 0 && last == 65535 ? " *" : $" {first}-{last}";
        return $"{protocol}{ports} -> class {Class}";
    }
}

/// <summary>One <c>pr_pol_peers4</c> entry of a set, without the set id.</summary>
public readonly record struct PeerEntry(uint Class, Prefix4 Peer, PolicyVerdict Verdict, uint Rule);

/// <summary>
/// The compiled entries of one rule set (set id left out): identical contents share one set id. <see cref="Key"/> is a
/// canonical text of the entries (their identity); <see cref="Rules"/> the rule ids the set was built from.
/// </summary>
public sealed class RuleSetContent
{
    public RuleSetContent(IReadOnlyList<PortEntry> ports, IReadOnlyList<PeerEntry> peers, IReadOnlyList<uint> rules)
    {
        Ports = ports;
        Peers = peers;
        Rules = rules;
        var key = new StringBuilder();
        foreach (var port in ports)
            key.Append('p').Append(port.Protocol).Append(':').Append(port.Port).Append('/').Append(port.Bits).Append('=').Append(port.Class).Append(';');
        key.Append('|');
        foreach (var peer in peers)
            key.Append(peer.Class).Append(':').Append(peer.Peer.Address).Append('/').Append(peer.Peer.Length)
                .Append(peer.Verdict == PolicyVerdict.Allow ? 'A' : 'D').Append(peer.Rule).Append(';');
        Key = key.ToString();
    }

    public IReadOnlyList<PortEntry> Ports { get; }
    public IReadOnlyList<PeerEntry> Peers { get; }
    public IReadOnlyList<uint> Rules { get; }
    public string Key { get; }
}
