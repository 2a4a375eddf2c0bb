using System.Net;

namespace ProxyReplacement.ServiceProxy.Model;

public enum AddressType
{
    IPv4,
    IPv6,
    Fqdn,
}

/// <summary>
/// <c>endpoints[].conditions</c> as written (null = absent). Kubernetes reads an absent
/// <c>ready</c> or <c>serving</c> as true and an absent <c>terminating</c> as false.
/// </summary>
public sealed record EndpointConditions(bool? Ready = null, bool? Serving = null, bool? Terminating = null)
{
    // Each of the 27 combinations once: every endpoint of a large cluster holds one of a handful (400k endpoints
    // would otherwise hold 400k copies of the same few values, 24 bytes each).
    private static readonly EndpointConditions[] Shared = [.. Enumerable.Range(0, 27).Select(index =>
        new EndpointConditions(Trit(index % 3), Trit(index / 3 % 3), Trit(index / 9)))];

    /// <summary>The shared instance of these conditions (equal to <c>new EndpointConditions(...)</c>).</summary>
    public static EndpointConditions Of(bool? ready, bool? serving, bool? terminating) =>
        Shared[Index(ready) + 3 * Index(serving) + 9 * Index(terminating)];

    private static bool? Trit(int index) => index switch { 0 => null, 1 => false, _ => true };

    private static int Index(bool? value) => value switch { null => 0, false => 1, true => 2 };

    public bool IsReady => Ready ?? true;
    public bool IsServing => Serving ?? true;
    public bool IsTerminating => Terminating ?? false;
}

/// <summary>
/// <c>endpoints[].hints</c> (topology-aware routing, KEP-2433; <c>forNodes</c> from <c>trafficDistribution:
/// PreferSameNode</c>, KEP-3015): the zones and nodes this endpoint should serve. Null on the endpoint = no hints.
/// </summary>
public sealed record EndpointHints(EquatableList<string> ForZones, EquatableList<string> ForNodes);

/// <summary>
/// One entry of <c>endpoints</c> (named so it does not clash with ASP.NET Core's Endpoint). Consumers balance to the
/// first address (as kube-proxy does). A 24-byte value held inline in its slice's list: the addresses, and everything
/// else in one shared <see cref="EndpointTraits"/> (the endpoints of one node mostly differ in their addresses alone).
/// As an object with four fields of its own an endpoint took 64 bytes plus its reference in the list: 28 MB for the
/// endpoints of 100k Services × 4, against 10 MB now. Equality is by value, as before.
/// </summary>
public readonly record struct SliceEndpoint
{
    // Null only in default(SliceEndpoint), which no parser produces: it reads as an endpoint with no conditions written.
    private readonly EndpointTraits? _traits;

    public SliceEndpoint(AddressList Addresses, EndpointConditions Conditions, string? NodeName = null, string? Zone = null,
        EndpointHints? Hints = null)
    {
        ArgumentNullException.ThrowIfNull(Conditions);
        this.Addresses = Addresses;
        _traits = EndpointTraits.Of(Conditions, NodeName, Zone, Hints);
    }

    public AddressList Addresses { get; }
    public EndpointConditions Conditions => _traits?.Conditions ?? EndpointConditions.Of(null, null, null);
    public string? NodeName => _traits?.NodeName;
    public string? Zone => _traits?.Zone;
    public EndpointHints? Hints => _traits?.Hints;
}

/// <summary>
/// What an endpoint holds besides its addresses. Shared: <see cref="Of"/> returns one instance per distinct value while
/// the pool has room (a cluster's endpoints repeat a few thousand combinations of node, zone and conditions at most);
/// beyond <see cref="PoolCapacity"/> distinct values a new one is its own instance, still correct, just not shared.
/// </summary>
internal sealed record EndpointTraits(EndpointConditions Conditions, string? NodeName, string? Zone, EndpointHints? Hints)
{
    public const int PoolCapacity = 65_536;

    private static readonly Parsing.ValuePool<EndpointTraits> Pool = new(PoolCapacity);

    public static EndpointTraits Of(EndpointConditions conditions, string? nodeName, string? zone, EndpointHints? hints) =>
        Pool.Share(new EndpointTraits(conditions, nodeName, zone, hints));
}

/// <summary>One entry of <c>ports</c>. <see cref="Port"/> null means "all ports" in the API; we skip those.</summary>
public sealed record EndpointPort(string Name, Protocol Protocol, int? Port);

public sealed record EndpointSlice(
    string Namespace,
    string Name,
    string ServiceName,
    AddressType AddressType,
    EquatableList<SliceEndpoint> Endpoints,
    EquatableList<EndpointPort> Ports)
{
    /// <summary>The label naming the Service a slice belongs to.</summary>
    public const string ServiceNameLabel = "kubernetes.io/service-name";

    public ObjectKey Key => new(Namespace, Name);
    public ObjectKey ServiceKey => new(Namespace, ServiceName);

    /// <summary>The annotation the EndpointSlice controller sets to the time of the change (a Pod's) that led to this version.</summary>
    public const string LastChangeTriggerTimeAnnotation = "endpoints.kubernetes.io/last-change-trigger-time";

    /// <summary>
    /// <see cref="LastChangeTriggerTimeAnnotation"/>, for <c>kubeproxy_network_programming_duration_seconds</c>. Not part
    /// of equality (<see cref="ChangeTriggerTime"/> always compares equal): a new trigger time on an otherwise equal
    /// slice is no change, as in kube-proxy's EndpointSlice cache.
    /// </summary>
    public ChangeTriggerTime LastChangeTriggerTime { get; init; }
}

/// <summary>
/// A value carried beside an object's fields without taking part in its equality: any two compare equal, so an
/// update that changes only this stays a no-op for the change tracker.
/// </summary>
public readonly struct ChangeTriggerTime(DateTimeOffset? value) : IEquatable<ChangeTriggerTime>
{
    // The instant as UTC ticks, 0 = none: 8 bytes on every slice, where a DateTimeOffset? took 24 (1.6 MB at 100k slices).
    // Only the instant is kept: it is compared with the clock, the offset it was written with does not matter.
    private readonly long _utcTicks = value?.UtcTicks ?? 0;

    public DateTimeOffset? Value => _utcTicks == 0 ? null : new DateTimeOffset(_utcTicks, TimeSpan.Zero);

    public bool Equals(ChangeTriggerTime other) => true;

    public override bool Equals(object? obj) => obj is ChangeTriggerTime;

    public override int GetHashCode() => 0;

    public static bool operator ==(ChangeTriggerTime left, ChangeTriggerTime right) => true;

    public static bool operator !=(ChangeTriggerTime left, ChangeTriggerTime right) => false;

    public override string ToString() => Value?.ToString("O") ?? "";
}
