using System.Text;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Cli;

/// <summary>
/// The ClusterIP fast path in `dump`: how many of pr_nat_direct4's slots hold a frontend, and which frontend holds which
/// slot (the frontend lines say "fast path"; the others take the hash lookups). A slot counts only when its check holds
/// and it sits where the programs look for its VIP (ntohl(vip) &amp; pr_config.direct_mask4): what the dataplane would use.
/// </summary>
public static class FastPathDump
{
    /// <param name="Slots">The table's size.</param>
    /// <param name="Mask">pr_config.direct_mask4; 0: the table is off.</param>
    /// <param name="Used">Slots whose entry the programs would use.</param>
    /// <param name="Unusable">Slots holding something the programs refuse (a failed check, or a VIP that does not map there).</param>
    /// <param name="Holders">Each frontend that holds a slot, and the slot.</param>
    public sealed record Summary(int Slots, uint Mask, int Used, int Unusable, IReadOnlyDictionary<NatFrontendKey4, uint> Holders)
    {
        public bool Off => Mask == 0;

        /// <summary>The slot <paramref name="frontend"/> is served from, or null (the hash path).</summary>
        public uint? SlotOf(NatFrontendKey4 frontend) => Holders.TryGetValue(frontend, out var slot) ? slot : null;
    }

    /// <summary>The table's summary; null without a table (pins from before ABI 5, which had none).</summary>
    public static Summary? Read(IBpfMap<uint, NatDirectEntry4>? direct, DataplaneConfig? config)
    {
        if (direct is null)
            return null;
        var mask = config?.DirectMask4 ?? 0;
        var holders = new Dictionary<NatFrontendKey4, uint>();
        var unusable = 0;
        foreach (var (slot, entry) in direct.ReadWhere(static (_, entry) => !entry.Equals(default(NatDirectEntry4))))
        {
            if (mask == 0 || !entry.IsSealed || DirectSlots.SlotOf(entry.Frontend, mask) != slot)
                unusable++;
            else
                holders[entry.Frontend] = slot;
        }
        return new Summary(direct.MaxEntries, mask, holders.Count, unusable, holders);
    }

    public static void AppendText(StringBuilder text, Summary? summary)
    {
        ArgumentNullException.ThrowIfNull(text);
        text.Append("\nFAST PATH (pr_nat_direct4: a ClusterIP frontend and its backends in one slot; the others take the hash lookups)\n");
        if (summary is null)
            text.Append("  no table pinned (pins of a daemon from before ABI 5)\n");
        else if (summary.Off)
            text.Append($"  off (--direct-table-size 0){(summary.Used + summary.Unusable > 0 ? $"; {summary.Used + summary.Unusable} slot(s) not empty" : "")}\n");
        else
            text.Append($"  {summary.Used} of {summary.Slots} slots used{(summary.Unusable > 0 ? $", {summary.Unusable} holding what the programs refuse" : "")}\n");
    }
}
