namespace ProxyReplacement.ServiceProxy.Policy;

/// <summary>An inclusive range of ports of one protocol (a whole protocol is 0..65535).</summary>
public readonly record struct PortSpan(byte Protocol, int First, int Last)
{
    public override string ToString() => First == 0 && Last == 65535 ? $"*/{Protocol}" : First == Last ? $"{First}/{Protocol}" : $"{First}-{Last}/{Protocol}";
}

/// <summary>An allowed peer prefix and the prefixes inside it that it does not allow (an ipBlock's except; a pod is a /32 without).</summary>
public sealed record PeerBlock(Prefix4 Cidr, IReadOnlyList<Prefix4> Except)
{
    public bool Allows(uint address)
    {
        if (!Cidr.Contains(address))
            return false;
        foreach (var except in Except)
            if (except.Contains(address))
                return false;
        return true;
    }
}

/// <summary>
/// A rule resolved for one rule set: <see cref="Ports"/> (null: every port of every protocol) times <see cref="Peers"/>.
/// One rule is usually one clause; an egress rule with named ports becomes one clause per number the name resolves to
/// (with the peer pods that have it), because the name is resolved against each peer.
/// </summary>
public sealed record Clause(uint Rule, IReadOnlyList<PortSpan>? Ports, IReadOnlyList<PeerBlock> Peers)
{
    public bool CoversAllPorts => Ports is null;
}
