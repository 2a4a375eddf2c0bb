using System.Runtime.InteropServices;
using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// Places a service's backends at ordinals [0, count) with as few writes as possible: a backend
/// already in the map keeps its ordinal; a hole left by a removed backend is filled by moving the
/// last backend into it (then by new backends, in address order), so the range stays dense.
/// </summary>
public static class BackendOrdinals
{
    /// <param name="current">What the backend map holds for the service, by ordinal.</param>
    /// <param name="desired">The backends the service should have (distinct).</param>
    /// <returns>The backend for each ordinal 0..desired.Count-1.</returns>
    public static NatBackendValue4[] Assign(IReadOnlyDictionary<uint, NatBackendValue4> current, IReadOnlyCollection<NatBackendValue4> desired)
    {
        var held = current
            .Select(pair => new KeyValuePair<NatBackendKey, NatBackendValue4>(new NatBackendKey(0, pair.Key), pair.Value))
            .OrderBy(pair => pair.Key.Ordinal)
            .ToArray();
        return Place(held, desired.OrderBy(MapOrder.BackendValue).ToArray());
    }

    /// <param name="current">The service's entries in the backend map, in ascending ordinal order.</param>
    /// <param name="desired">The distinct backends the service should have, in address order (<see cref="MapOrder.BackendValue"/>, stable).</param>
    internal static NatBackendValue4[] Place(ReadOnlySpan<KeyValuePair<NatBackendKey, NatBackendValue4>> current, ReadOnlySpan<NatBackendValue4> desired)
    {
        if (current.IsEmpty)
            return desired.ToArray(); // a new service (or a cold start): every backend is new, in address order
        if (HoldsExactly(current, desired))
        {
            // The common case of a rebuild: nothing changed, everything stays where it is.
            var unchanged = new NatBackendValue4[current.Length];
            for (var ordinal = 0; ordinal < unchanged.Length; ordinal++)
                unchanged[ordinal] = current[ordinal].Value;
            return unchanged;
        }
        return Rearrange(current, desired);
    }

    /// <summary>
    /// True when the map holds exactly ordinals [0, count) and each holds a distinct one of <paramref name="desired"/>.
    /// Looks values up by binary search in address order, so a desired set with two values of one address and port
    /// (differing only in flags, which <see cref="DesiredStateBuilder"/> never makes) may answer false: the caller
    /// then takes the general path, which is exact for any input.
    /// </summary>
    private static bool HoldsExactly(ReadOnlySpan<KeyValuePair<NatBackendKey, NatBackendValue4>> current, ReadOnlySpan<NatBackendValue4> desired)
    {
        if (current.Length != desired.Length)
            return false;
        Span<bool> matched = desired.Length <= 256 ? stackalloc bool[desired.Length] : new bool[desired.Length];
        for (var ordinal = 0; ordinal < current.Length; ordinal++)
        {
            var (key, value) = current[ordinal];
            if (key.Ordinal != ordinal)
                return false;
            var at = IndexOf(desired, value);
            if (at < 0 || matched[at])
                return false;
            matched[at] = true;
        }
        return true;
    }

    private static int IndexOf(ReadOnlySpan<NatBackendValue4> inAddressOrder, NatBackendValue4 value)
    {
        var sought = MapOrder.BackendValue(value);
        int low = 0, high = inAddressOrder.Length - 1;
        while (low <= high)
        {
            var middle = low + (high - low) / 2;
            var key = MapOrder.BackendValue(inAddressOrder[middle]);
            if (key == sought)
                return inAddressOrder[middle] == value ? middle : -1;
            if (key < sought)
                low = middle + 1;
            else
                high = middle - 1;
        }
        return -1;
    }

    /// <summary>Some backends come or go: keep those still wanted, fill the holes from the end, then with new ones.</summary>
    private static NatBackendValue4[] Rearrange(ReadOnlySpan<KeyValuePair<NatBackendKey, NatBackendValue4>> current, ReadOnlySpan<NatBackendValue4> desired)
    {
        var count = desired.Length;
        var wanted = new HashSet<NatBackendValue4>(count);
        foreach (var value in desired)
            wanted.Add(value);
        var placed = new NatBackendValue4?[count];
        var kept = new HashSet<NatBackendValue4>();
        var beyondEnd = new List<NatBackendValue4>(); // in ascending ordinal order

        foreach (var (key, value) in current)
        {
            if (!wanted.Contains(value) || !kept.Add(value))
                continue; // removed, or a duplicate of one kept already
            if (key.Ordinal < count)
                placed[key.Ordinal] = value;
            else
                beyondEnd.Add(value);
        }

        // Fillers: the kept backends beyond the end, highest ordinal first, then the new backends in address order.
        var result = new NatBackendValue4[count];
        var fromEnd = beyondEnd.Count - 1;
        var next = 0;
        for (var ordinal = 0; ordinal < count; ordinal++)
        {
            if (placed[ordinal] is { } value)
            {
                result[ordinal] = value;
                continue;
            }
            if (fromEnd >= 0)
            {
                result[ordinal] = beyondEnd[fromEnd--];
                continue;
            }
            while (kept.Contains(desired[next]))
                next++;
            result[ordinal] = desired[next++];
        }
        return result;
    }

    /// <summary>
    /// Sorts <paramref name="backends"/> into address order and drops repeats, in place. For values made by the control
    /// plane (flags 0), equal in that order means equal.
    /// </summary>
    internal static void SortDistinct(List<NatBackendValue4> backends)
    {
        var span = CollectionsMarshal.AsSpan(backends);
        if (span.Length <= 16)
        {
            // Insertion sort: a Service has a handful of endpoints, and this allocates nothing.
            for (var i = 1; i < span.Length; i++)
            {
                var value = span[i];
                var key = MapOrder.BackendValue(value);
                var j = i - 1;
                for (; j >= 0 && MapOrder.BackendValue(span[j]) > key; j--)
                    span[j + 1] = span[j];
                span[j + 1] = value;
            }
        }
        else
            span.Sort(static (x, y) => MapOrder.BackendValue(x).CompareTo(MapOrder.BackendValue(y)));

        var distinct = 0;
        for (var i = 0; i < span.Length; i++)
            if (distinct == 0 || span[distinct - 1] != span[i])
                span[distinct++] = span[i];
        backends.RemoveRange(distinct, span.Length - distinct);
    }
}
