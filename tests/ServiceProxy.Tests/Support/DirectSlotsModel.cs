using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Tests.Support;

/// <summary>
/// The fast-path table's slots as the contract with the programs states them, written from that contract and not from
/// <see cref="ProxyReplacement.ServiceProxy.Sync.DirectSlots"/>: a frontend qualifies when it is a ClusterIP without
/// affinity, source ranges or internal policy Local, with 1 to 6 backends all present; its slot is its address's last
/// bits; of a slot's qualifying frontends the one with the lowest address, then port, then protocol number holds it,
/// with its service id and backends 0..count-1 in that order. Also the write order the Syncer must keep around the NAT writes.
/// </summary>
public static class DirectSlotsModel
{
    public static Dictionary<uint, NatDirectEntry4> Expected(IEnumerable<KeyValuePair<NatFrontendKey4, NatFrontendValue>> frontends,
        IReadOnlyDictionary<NatBackendKey, NatBackendValue4> backends, uint mask)
    {
        bool Qualifies(NatFrontendValue v) =>
            v.Kind == FrontendKind.ClusterIP && !v.Flags.HasFlag(FrontendFlags.Affinity) && !v.Flags.HasFlag(FrontendFlags.SourceRanges) &&
            !v.Flags.HasFlag(FrontendFlags.InternalLocal) && v.BackendCount is >= 1 and <= 6 &&
            Enumerable.Range(0, (int)v.BackendCount).All(i => backends.ContainsKey(new NatBackendKey(v.ServiceId, (uint)i)));
        return frontends.Where(f => Qualifies(f.Value))
            .GroupBy(f => Address(f.Key) & mask)
            .ToDictionary(slot => slot.Key, slot =>
            {
                var (key, value) = slot.OrderBy(f => Address(f.Key)).ThenBy(f => f.Key.Port).ThenBy(f => f.Key.Protocol).First();
                return new NatDirectEntry4(key, value.ServiceId,
                    Enumerable.Range(0, (int)value.BackendCount).Select(i => backends[new NatBackendKey(value.ServiceId, (uint)i)]).ToList());
            });
    }

    /// <summary>The slots the maps' NAT entries call for.</summary>
    public static Dictionary<uint, NatDirectEntry4> Expected(NatMapsUnderTest maps) =>
        Expected(maps.Frontends.Inner.ReadAll(), maps.Backends.Inner.ReadAll().ToDictionary(e => e.Key, e => e.Value), (uint)maps.Direct.MaxEntries - 1);

    /// <summary>The VIP as a number, most significant byte first.</summary>
    public static uint Address(NatFrontendKey4 key)
    {
        var b = key.Vip.GetAddressBytes();
        return (uint)(b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]);
    }

    /// <summary>
    /// Where the fast-path writes of one sync broke the order (empty when none did): every slot emptied before the first NAT
    /// write, every entry written after the last NAT upsert and before the first NAT delete. One exception: a slot whose
    /// new copy could not be written (a <paramref name="problems"/> entry says so) may be emptied in the copy's place,
    /// before the first NAT delete.
    /// </summary>
    public static List<string> OrderViolations(NatMapsUnderTest maps, IEnumerable<ProxyReplacement.ServiceProxy.Sync.SyncProblem>? problems = null)
    {
        var failedCopies = (problems ?? []).Select(p => System.Text.RegularExpressions.Regex.Match(p.Reason, @"^pr_nat_direct4: writing .* to slot (\d+):"))
            .Where(m => m.Success).Select(m => uint.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToHashSet();
        var log = maps.WriteLog;
        static bool IsNat(string w) => w.StartsWith("+fe ", StringComparison.Ordinal) || w.StartsWith("+be ", StringComparison.Ordinal) || IsNatDelete(w);
        static bool IsNatDelete(string w) => w.StartsWith("-fe ", StringComparison.Ordinal) || w.StartsWith("-be ", StringComparison.Ordinal);
        var firstNat = log.FindIndex(IsNat);
        var lastUpsert = log.FindLastIndex(w => IsNat(w) && !IsNatDelete(w));
        var firstDelete = log.FindIndex(IsNatDelete);
        var violations = new List<string>();
        foreach (var write in maps.DirectLog)
        {
            if (write.Empties && firstNat >= 0 && write.NatWritesBefore > firstNat &&
                !(failedCopies.Contains(write.Slot) && (firstDelete < 0 || write.NatWritesBefore <= firstDelete)))
                violations.Add($"'{write}' after the NAT write '{log[firstNat]}'");
            if (!write.Empties && write.NatWritesBefore <= lastUpsert)
                violations.Add($"'{write}' before the NAT upsert '{log[lastUpsert]}'");
            if (!write.Empties && firstDelete >= 0 && write.NatWritesBefore > firstDelete)
                violations.Add($"'{write}' after the NAT delete '{log[firstDelete]}'");
        }
        return violations;
    }
}
