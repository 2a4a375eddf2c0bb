using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Conntrack;

/// <summary>What one sweep decided: the keys to delete and why.</summary>
/// <param name="Delete">Forward entries of expired flows with their reverse entries, then expired orphan reverse entries.</param>
/// <param name="ExpiredFlows">Forward entries past their timeout (each deleted with its reverse entry when that exists), and
/// the backend's-node entries of flows from other nodes past theirs (<see cref="ConntrackSweep.IsRemoteFlowEntry"/>).</param>
/// <param name="OrphanReverses">Reverse entries without a forward entry, past their own timeout.</param>
/// <param name="Scanned">Entries looked at.</param>
public sealed record ConntrackSweepPlan(IReadOnlyList<ConntrackKey4> Delete, int ExpiredFlows, int OrphanReverses, int Scanned);

/// <summary>
/// The sweeper's decision, pure: which conntrack entries are past their protocol's timeout at a given
/// CLOCK_MONOTONIC time, in forward/reverse pairs. A flow's fate is its forward entry's (it owns the TCP
/// state): an expired forward entry goes together with its reverse entry (the one whose NAT points back at
/// the forward key's VIP:port); a reverse entry whose forward entry is alive stays (the forward's next due
/// refresh refreshes or rewrites it, <c>pr_ct_touch_reverse</c>); a reverse entry without a forward entry goes
/// when it is itself expired. The expiry rule is the dataplane's (<see cref="ConntrackTimeouts.IsExpired"/>).
/// Entries that never have a forward entry on this node (a <see cref="ConntrackType.TunnelReturn"/> entry, a DSR flow's
/// reverse entry on the backend's node: the decapsulating path refreshes them while the flow lives) are orphans by this
/// rule, so they too go when they are expired themselves; they are counted as expired flows, not orphans.
/// </summary>
public static class ConntrackSweep
{
    public static ConntrackSweepPlan Plan(IReadOnlyList<KeyValuePair<ConntrackKey4, ConntrackValue4>> entries, ConntrackTimeouts timeouts, ulong nowNs)
    {
        var byKey = new Dictionary<ConntrackKey4, ConntrackValue4>(entries.Count);
        foreach (var (key, value) in entries)
            byKey[key] = value;

        var delete = new List<ConntrackKey4>();
        var deleting = new HashSet<ConntrackKey4>();
        int expiredFlows = 0, orphans = 0;
        foreach (var (key, value) in byKey)
        {
            if (value.Type != ConntrackType.Forward || !timeouts.IsExpired(key.Protocol, value, nowNs))
                continue;
            expiredFlows++;
            if (deleting.Add(key))
                delete.Add(key);
            var reverseKey = ReverseOf(key, value);
            if (byKey.TryGetValue(reverseKey, out var reverse) && IsReverseOf(reverse, key) && deleting.Add(reverseKey))
                delete.Add(reverseKey);
        }
        foreach (var (key, value) in byKey)
        {
            if (value.Type == ConntrackType.Forward || deleting.Contains(key))
                continue;
            var forwardKey = ForwardOf(key, value);
            var hasForward = value.Type == ConntrackType.Reverse && byKey.TryGetValue(forwardKey, out var forward) &&
                             forward.Type == ConntrackType.Forward && forward.NatAddressNbo == key.SourceNbo && forward.NatPortNbo == key.SourcePortNbo;
            if (hasForward || !timeouts.IsExpired(key.Protocol, value, nowNs))
                continue;
            // The backend's side of a flow another node sent here: its only entry on this node, so an expired flow. (A DSR
            // reverse entry on the ingress node whose forward entry was evicted counts here too: this node cannot tell the two
            // apart without its own address, and the eviction is rare.)
            if (IsRemoteFlowEntry(value))
                expiredFlows++;
            // A reverse entry alone (its forward entry evicted by the LRU or deleted), or an entry of an unknown type.
            else
                orphans++;
            deleting.Add(key);
            delete.Add(key);
        }
        return new ConntrackSweepPlan(delete, expiredFlows, orphans, byKey.Count);
    }

    /// <summary>
    /// <c>pr_ct_reverse_of_forward</c>: {backend, client, bport, cport}; for a SNATed flow (<see cref="ConntrackFlags.Snat"/>)
    /// {backend, peer_addr, bport, peer_port}: the replies come back to the source the forward packets were given.
    /// Tunnelled and DSR flows keep the client as the source, so their reverse key is the usual one.
    /// </summary>
    public static ConntrackKey4 ReverseOf(in ConntrackKey4 forward, in ConntrackValue4 value) =>
        value.FlowFlags.HasFlag(ConntrackFlags.Snat)
            ? ConntrackKeys.Make(value.NatAddressNbo, value.PeerAddressNbo, value.NatPortNbo, value.PeerPortNbo, forward.Protocol)
            : ConntrackKeys.Make(value.NatAddressNbo, forward.SourceNbo, value.NatPortNbo, forward.SourcePortNbo, forward.Protocol);

    /// <summary>
    /// <c>pr_ct_forward_of_reverse</c>: {client, vip, cport, vport}; for a SNATed flow's reverse entry the client is its
    /// peer: {peer_addr, nat_addr, peer_port, nat_port}. Meaningful for <see cref="ConntrackType.Reverse"/> entries only:
    /// a <see cref="ConntrackType.TunnelReturn"/> entry, and a DSR reverse entry on the backend's node, have no forward
    /// entry on this node by design (the flow's forward entry lives on the ingress node); they end at their own timeout.
    /// </summary>
    public static ConntrackKey4 ForwardOf(in ConntrackKey4 reverse, in ConntrackValue4 value) =>
        value.FlowFlags.HasFlag(ConntrackFlags.Snat)
            ? ConntrackKeys.Make(value.PeerAddressNbo, value.NatAddressNbo, value.PeerPortNbo, value.NatPortNbo, reverse.Protocol)
            : ConntrackKeys.Make(reverse.DestinationNbo, value.NatAddressNbo, reverse.DestinationPortNbo, value.NatPortNbo, reverse.Protocol);

    /// <summary>
    /// An entry written on the backend's node for a flow whose forward entry lives on the ingress node: a tunnel-return
    /// entry, or a reverse entry of a DSR flow.
    /// </summary>
    public static bool IsRemoteFlowEntry(in ConntrackValue4 value) =>
        value.Type == ConntrackType.TunnelReturn || (value.Type == ConntrackType.Reverse && value.FlowFlags.HasFlag(ConntrackFlags.Dsr));

    /// <summary>Whether <paramref name="reverse"/> is the reverse entry of the flow with this forward key (its NAT is the VIP:port).</summary>
    public static bool IsReverseOf(in ConntrackValue4 reverse, in ConntrackKey4 forward) =>
        reverse.Type == ConntrackType.Reverse && reverse.NatAddressNbo == forward.DestinationNbo && reverse.NatPortNbo == forward.DestinationPortNbo;
}

/// <summary>Conntrack keys from network-byte-order fields (as stored in entries).</summary>
internal static class ConntrackKeys
{
    public static ConntrackKey4 Make(uint sourceNbo, uint destinationNbo, ushort sourcePortNbo, ushort destinationPortNbo, byte protocol)
    {
        // The key's fields are readonly and its constructor takes host-order values; its layout is fixed (16 bytes, explicit).
        Span<byte> bytes = stackalloc byte[16];
        bytes.Clear();
        System.Runtime.InteropServices.MemoryMarshal.Write(bytes, in sourceNbo);
        System.Runtime.InteropServices.MemoryMarshal.Write(bytes[4..], in destinationNbo);
        System.Runtime.InteropServices.MemoryMarshal.Write(bytes[8..], in sourcePortNbo);
        System.Runtime.InteropServices.MemoryMarshal.Write(bytes[10..], in destinationPortNbo);
        bytes[12] = protocol;
        return System.Runtime.InteropServices.MemoryMarshal.Read<ConntrackKey4>(bytes);
    }
}
