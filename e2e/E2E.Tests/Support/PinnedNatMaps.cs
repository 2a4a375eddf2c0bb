using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Maps;

namespace ProxyReplacement.E2E.Tests.Support;

/// <summary>
/// What the daemon left in its pinned NAT maps, read from the outside (pinned maps are not bound to a
/// network namespace). Each read opens and closes the pins, so nothing here keeps a map alive.
/// </summary>
internal static class PinnedNatMaps
{
    /// <summary>The frontend of <paramref name="service"/>, or null when the map or the entry is missing.</summary>
    public static NatFrontendValue? Frontend(string pinRoot, ServiceUnderTest service) => Frontend(pinRoot, service.Vip, L4Protocol.Tcp);

    /// <summary>The frontend <paramref name="frontend"/>/<paramref name="protocol"/> (a ClusterIP, NodePort, ...), or null when the map or the entry is missing.</summary>
    public static NatFrontendValue? Frontend(string pinRoot, IPEndPoint frontend, L4Protocol protocol)
    {
        var path = PinRoot.PathOf(pinRoot, CoreObjectNames.Frontends);
        if (!File.Exists(path))
            return null;
        using var frontends = BpfMap<NatFrontendKey4, NatFrontendValue>.OpenPinned(path);
        var key = new NatFrontendKey4(frontend.Address, (ushort)frontend.Port, protocol);
        return frontends.TryLookup(key, out var value) ? value : null;
    }

    /// <summary>The dataplane counters summed over the CPUs, every reason (zeros too); what <c>dump</c> shows, without starting it.</summary>
    public static IReadOnlyDictionary<CounterReason, ulong> Counters(string pinRoot)
    {
        using var counters = BpfPerCpuArray<ulong>.OpenPinned(PinRoot.PathOf(pinRoot, CoreObjectNames.Counters));
        return CounterTotals.Sum(counters);
    }

    /// <summary>
    /// The slot of <paramref name="vip"/> in <c>pr_nat_direct4</c> (the ClusterIP fast path) under the mask the daemon
    /// wrote to <c>pr_config</c>, or null when the table is off or the map missing.
    /// </summary>
    public static NatDirectEntry4? DirectSlot(string pinRoot, IPAddress vip)
    {
        var path = PinRoot.PathOf(pinRoot, CoreObjectNames.Direct);
        if (!File.Exists(path))
            return null;
        using var config = BpfMap<uint, DataplaneConfig>.OpenPinned(PinRoot.PathOf(pinRoot, CoreObjectNames.Config));
        if (!config.TryLookup(0, out var settings) || settings.DirectMask4 == 0)
            return null;
        using var slots = BpfMap<uint, NatDirectEntry4>.OpenPinned(path);
        var slot = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(vip.GetAddressBytes()) & settings.DirectMask4;
        return slots.TryLookup(slot, out var entry) ? entry : null;
    }

    /// <summary>A snapshot for before/after comparisons: kernel map ids and every frontend and backend entry, one line each.</summary>
    public static NatMapsSnapshot Snapshot(string pinRoot)
    {
        using var frontends = BpfMap<NatFrontendKey4, NatFrontendValue>.OpenPinned(PinRoot.PathOf(pinRoot, CoreObjectNames.Frontends));
        using var backends = BpfMap<NatBackendKey, NatBackendValue4>.OpenPinned(PinRoot.PathOf(pinRoot, CoreObjectNames.Backends));
        return new NatMapsSnapshot(
            frontends.Id,
            backends.Id,
            frontends.ReadAll().Select(entry => $"{entry.Key} -> {entry.Value}").Order(StringComparer.Ordinal).ToList(),
            backends.ReadAll().Select(entry => $"{entry.Key} -> {entry.Value}").Order(StringComparer.Ordinal).ToList());
    }

    /// <summary>The map pins under <paramref name="pinRoot"/> that belong to the core object.</summary>
    public static IReadOnlyList<string> CorePins(string pinRoot) =>
        !Directory.Exists(pinRoot)
            ? []
            : Directory.EnumerateFileSystemEntries(pinRoot).Select(Path.GetFileName).OfType<string>()
                .Where(name => name.StartsWith("pr_", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
}

internal sealed record NatMapsSnapshot(uint FrontendMapId, uint BackendMapId, IReadOnlyList<string> Frontends, IReadOnlyList<string> Backends)
{
    public override string ToString() =>
        $"frontend map id {FrontendMapId}: [{string.Join("; ", Frontends)}], backend map id {BackendMapId}: [{string.Join("; ", Backends)}]";
}
