using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Policy;

/// <summary>
/// A rule set's clauses -> its entries (the design doc's algorithm, pure):
/// <list type="number">
/// <item>Ports, per protocol (TCP, UDP, SCTP): [0, 65535] split at every boundary of every clause's spans; each
/// elementary interval's class is the set of clauses covering it (clauses without ports cover all of them); intervals no
/// clause covers get no entry (a miss denies); neighbours of one class merge; identical clause sets share a class id
/// across protocols; each run becomes aligned LPM blocks (<see cref="PortBlocks"/>). Other IP protocols (ICMP...):
/// one entry <c>PR_POL_PROTO_OTHER</c> for the class of the port-less clauses, if any.</item>
/// <item>Peers, per class: every prefix P among the class's CIDRs and excepts gets the verdict for the addresses whose
/// longest match is P: ALLOW iff a clause of the class has a peer CIDR C ⊇ P with no except of that peer ⊇ P (rule: the
/// smallest such rule id), else DENY (rule: the smallest rule whose except matched). A DENY with no ALLOW right above
/// it (a DENY or nothing as its nearest prefix above) changes no answer and is left out.</item>
/// </list>
/// </summary>
internal static class RuleSetCompiler
{
    private static readonly byte[] PortProtocols = [6, 17, 132];

    public static RuleSetContent Compile(IReadOnlyList<Clause> clauses)
    {
        var classes = new Dictionary<string, (uint Id, int[] Clauses)>(StringComparer.Ordinal);
        var portEntries = new List<PortEntry>();
        var portless = Enumerable.Range(0, clauses.Count).Where(i => clauses[i].CoversAllPorts).ToArray();

        uint ClassOf(int[] members)
        {
            var key = string.Join(',', members);
            if (!classes.TryGetValue(key, out var found))
                classes[key] = found = ((uint)classes.Count + 1, members);
            return found.Id;
        }

        foreach (var protocol in PortProtocols)
        {
            var spans = new List<(int First, int Last, int Clause)>();
            for (var i = 0; i < clauses.Count; i++)
                if (clauses[i].Ports is { } ports)
                    foreach (var span in ports)
                        if (span.Protocol == protocol)
                            spans.Add((span.First, span.Last, i));
            if (spans.Count == 0 && portless.Length == 0)
                continue;
            var boundaries = new SortedSet<int> { 0, 65536 };
            foreach (var (first, last, _) in spans)
            {
                boundaries.Add(first);
                boundaries.Add(last + 1);
            }
            var points = boundaries.ToArray();
            int runStart = -1;
            uint runClass = 0;
            for (var b = 0; b < points.Length - 1; b++)
            {
                var start = points[b];
                var members = new SortedSet<int>(portless);
                foreach (var (first, last, clause) in spans)
                    if (first <= start && start <= last)
                        members.Add(clause);
                var cls = members.Count == 0 ? 0 : ClassOf(members.ToArray());
                if (cls != runClass)
                {
                    if (runClass != 0)
                        AddBlocks(portEntries, protocol, runStart, start - 1, runClass);
                    runStart = start;
                    runClass = cls;
                }
            }
            if (runClass != 0)
                AddBlocks(portEntries, protocol, runStart, 65535, runClass);
        }
        if (portless.Length > 0)
            portEntries.Add(new PortEntry(PolicyPortKey.OtherProtocol, 0, 0, ClassOf(portless)));

        var peerEntries = new List<PeerEntry>();
        foreach (var (id, members) in classes.Values.OrderBy(c => c.Id))
            peerEntries.AddRange(Peers(id, members.Select(i => clauses[i]).ToList()));
        var rules = clauses.Select(c => c.Rule).Distinct().Order().ToList();
        return new RuleSetContent(portEntries, peerEntries, rules);
    }

    private static void AddBlocks(List<PortEntry> entries, byte protocol, int first, int last, uint cls)
    {
        foreach (var (port, bits) in PortBlocks.Of(first, last))
            entries.Add(new PortEntry(protocol, (ushort)port, bits, cls));
    }

    /// <summary>The peer entries of one class, sorted by prefix.</summary>
    private static IEnumerable<PeerEntry> Peers(uint cls, List<Clause> clauses)
    {
        // Every peer block of the class, indexed by its CIDR: the CIDRs containing P are found by masking P to each length present.
        var byCidr = new Dictionary<Prefix4, List<(PeerBlock Block, uint Rule)>>();
        var prefixes = new HashSet<Prefix4>();
        foreach (var clause in clauses)
            foreach (var block in clause.Peers)
            {
                if (!byCidr.TryGetValue(block.Cidr, out var list))
                    byCidr[block.Cidr] = list = [];
                list.Add((block, clause.Rule));
                prefixes.Add(block.Cidr);
                foreach (var except in block.Except)
                    prefixes.Add(except);
            }
        var cidrLengths = byCidr.Keys.Select(p => p.Length).Distinct().Order().ToArray();

        var verdicts = new Dictionary<Prefix4, (PolicyVerdict Verdict, uint Rule)>();
        foreach (var prefix in prefixes)
        {
            uint? allow = null, deny = null;
            foreach (var length in cidrLengths)
            {
                if (length > prefix.Length)
                    break;
                if (!byCidr.TryGetValue(new Prefix4(prefix.Address & Prefix4.Mask(length), length), out var blocks))
                    continue;
                foreach (var (block, rule) in blocks)
                {
                    if (block.Except.Any(except => except.Contains(prefix)))
                        deny = deny is { } d ? Math.Min(d, rule) : rule;
                    else
                        allow = allow is { } a ? Math.Min(a, rule) : rule;
                }
            }
            verdicts[prefix] = allow is { } allowed ? (PolicyVerdict.Allow, allowed) : (PolicyVerdict.Deny, deny ?? 0);
        }

        var lengths = prefixes.Select(p => p.Length).Distinct().Order().ToArray();
        foreach (var prefix in prefixes.Order())
        {
            var (verdict, rule) = verdicts[prefix];
            if (verdict == PolicyVerdict.Deny && !HasAllowAbove(prefix, lengths, verdicts))
                continue;
            yield return new PeerEntry(cls, prefix, verdict, rule);
        }
    }

    /// <summary>
    /// Whether the nearest prefix above <paramref name="prefix"/> allows: only then does a DENY entry change an answer (its
    /// addresses would otherwise fall to that ALLOW). Under a DENY or nothing they are denied without it.
    /// </summary>
    private static bool HasAllowAbove(Prefix4 prefix, int[] lengths, Dictionary<Prefix4, (PolicyVerdict Verdict, uint Rule)> verdicts)
    {
        for (var i = lengths.Length - 1; i >= 0; i--)
        {
            var length = lengths[i];
            if (length >= prefix.Length)
                continue;
            if (verdicts.TryGetValue(new Prefix4(prefix.Address & Prefix4.Mask(length), length), out var above))
                return above.Verdict == PolicyVerdict.Allow;
        }
        return false;
    }
}

/// <summary>A port range as aligned LPM blocks (at most 30 for any range of 16-bit ports).</summary>
public static class PortBlocks
{
    /// <summary>(first port, leading bits) of each block covering exactly <paramref name="first"/>..<paramref name="last"/>, in order.</summary>
    public static IEnumerable<(int Port, int Bits)> Of(int first, int last)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(first);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(last, 65535);
        var port = first;
        while (port <= last)
        {
            // The largest block aligned at port: its size divides port's alignment and fits before last.
            var size = port == 0 ? 65536 : port & -port;
            while (port + size - 1 > last)
                size >>= 1;
            yield return (port, 16 - System.Numerics.BitOperations.Log2((uint)size));
            port += size;
        }
    }
}
