using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// Places a service's backends at ordinals [0, count) with as few writes as possible: a backend
/// already in the map keeps its ordinal; a hole left by a removed backend is filled by moving the
/// last backend into it (then by new backends), so the range stays dense.
/// </summary>
public static class BackendOrdinals
{
    /// <param name="current">What the backend map holds for the service, by ordinal.</param>
    /// <param name="desired">The backends the service should have (distinct).</param>
    /// <returns>The backend for each ordinal 0..desired.Count-1.</returns>
    public static NatBackendValue4[] Assign(IReadOnlyDictionary<uint, NatBackendValue4> current, IReadOnlyCollection<NatBackendValue4> desired)
    {
        var count = desired.Count;
        var wanted = desired.ToHashSet();
        var placed = new NatBackendValue4?[count];
        var kept = new HashSet<NatBackendValue4>();
        var beyondEnd = new List<(uint Ordinal, NatBackendValue4 Value)>();

        foreach (var (ordinal, value) in current.OrderBy(pair => pair.Key))
        {
            if (!wanted.Contains(value) || !kept.Add(value))
                continue; // removed, or a duplicate of one kept already
            if (ordinal < count)
                placed[ordinal] = value;
            else
                beyondEnd.Add((ordinal, value));
        }

        var fillers = new Queue<NatBackendValue4>(
            beyondEnd.OrderByDescending(entry => entry.Ordinal).Select(entry => entry.Value)
                .Concat(desired.Where(value => !kept.Contains(value)).OrderBy(value => value, BackendOrder.Instance)));
        var result = new NatBackendValue4[count];
        for (var ordinal = 0; ordinal < count; ordinal++)
            result[ordinal] = placed[ordinal] ?? fillers.Dequeue();
        return result;
    }
}

/// <summary>Orders backends by address bytes, then port: the placement order of new backends.</summary>
internal sealed class BackendOrder : IComparer<NatBackendValue4>
{
    public static readonly BackendOrder Instance = new();

    public int Compare(NatBackendValue4 x, NatBackendValue4 y)
    {
        var byAddress = HostOrder(x.AddressNbo).CompareTo(HostOrder(y.AddressNbo));
        return byAddress != 0 ? byAddress : x.Port.CompareTo(y.Port);
    }

    private static uint HostOrder(uint nbo) =>
        BitConverter.IsLittleEndian ? System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(nbo) : nbo;
}
