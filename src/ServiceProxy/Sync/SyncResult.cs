namespace ProxyReplacement.ServiceProxy.Sync;

public enum SyncProblemKind
{
    /// <summary>The map rejected the write (e.g. full); the next sync retries it.</summary>
    WriteFailed,
    /// <summary>The write was held back or reduced so no frontend points past its backends; the next sync retries it.</summary>
    Deferred,
    /// <summary>The snapshot itself asks for something impossible (e.g. two Services on one VIP:port).</summary>
    Conflict,
}

/// <param name="Service">The service port the write was for, when known.</param>
public sealed record SyncProblem(SyncProblemKind Kind, string Reason, MapWrite? Write = null, ServicePortKey? Service = null, Exception? Error = null)
{
    public override string ToString() =>
        $"{Kind}: {(Service is { } service ? service + ": " : "")}{(Write is null ? "" : Write + ": ")}{Reason}";
}

/// <summary>What one sync did: the writes that reached the maps, and what went wrong.</summary>
public sealed record SyncResult(IReadOnlyList<MapWrite> Applied, IReadOnlyList<SyncProblem> Problems)
{
    public bool Succeeded => Problems.Count == 0;
}
