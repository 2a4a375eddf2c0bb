namespace ProxyReplacement.ServiceProxy.Daemon;

/// <summary>
/// Whether the source works: degraded (with what fails, and since when) while it cannot reach its
/// objects. The dataplane keeps serving the last state meanwhile.
/// </summary>
public sealed record SourceCondition(bool Degraded, string? Reason, DateTimeOffset? Since)
{
    public static readonly SourceCondition Ok = new(false, null, null);

    public static SourceCondition Failing(string reason, DateTimeOffset since) => new(true, reason, since);
}
