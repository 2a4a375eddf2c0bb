using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>One write to the NAT maps. <see cref="ToString"/> is the canonical one-line form used by golden tests.</summary>
public abstract record MapWrite
{
    /// <summary>The service id the write concerns (the backend key's, or the frontend value's).</summary>
    public abstract uint ServiceId { get; }
}

public sealed record UpsertBackend(NatBackendKey Key, NatBackendValue4 Value) : MapWrite
{
    public override uint ServiceId => Key.ServiceId;
    public override string ToString() => $"+{MapDump.Backend(Key, Value)}";
}

public sealed record UpsertFrontend(NatFrontendKey4 Key, NatFrontendValue Value) : MapWrite
{
    public override uint ServiceId => Value.ServiceId;
    public override string ToString() => $"+{MapDump.Frontend(Key, Value)}";
}

/// <param name="ServiceIdBefore">The id the deleted entry pointed at (for reports).</param>
public sealed record DeleteFrontend(NatFrontendKey4 Key, uint ServiceIdBefore) : MapWrite
{
    public override uint ServiceId => ServiceIdBefore;
    public override string ToString() => $"-fe {Key}";
}

public sealed record DeleteBackend(NatBackendKey Key) : MapWrite
{
    public override uint ServiceId => Key.ServiceId;
    public override string ToString() => $"-{MapDump.BackendKey(Key)}";
}
