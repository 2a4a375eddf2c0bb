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

/// <summary>One entry of <c>endpoints</c> (named so it does not clash with ASP.NET Core's Endpoint). Consumers balance to the first address (as kube-proxy does).</summary>
public sealed record SliceEndpoint(
    AddressList Addresses,
    EndpointConditions Conditions,
    string? NodeName = null,
    string? Zone = null,
    EndpointHints? Hints = null);

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
    public DateTimeOffset? Value { get; } = value;

    public bool Equals(ChangeTriggerTime other) => true;

    public override bool Equals(object? obj) => obj is ChangeTriggerTime;

    public override int GetHashCode() => 0;

    public static bool operator ==(ChangeTriggerTime left, ChangeTriggerTime right) => true;

    public static bool operator !=(ChangeTriggerTime left, ChangeTriggerTime right) => false;

    public override string ToString() => Value?.ToString("O") ?? "";
}
