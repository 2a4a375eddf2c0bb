namespace ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi;

public enum ApiVerb
{
    List,
    Watch,
}

/// <summary>A fault the fake API server injects into the next matching request (see <see cref="FakeApiServer.Inject"/>).</summary>
public abstract record Fault
{
    /// <summary>An error answer with a Status body (500, 503, 429 ..., 410 for a watch), optionally with <c>Retry-After</c>.</summary>
    public sealed record Status(int Code, int? RetryAfterSeconds = null) : Fault;

    /// <summary>Waits before answering normally: longer than the client's request timeout makes it time out.</summary>
    public sealed record Slow(TimeSpan Delay) : Fault;

    /// <summary>A list page asked with a continue token answers 410 Expired (applies only to such a request).</summary>
    public sealed record ExpireContinue : Fault;

    /// <summary>A watch answers 200, then one ERROR event carrying a Status with <paramref name="Code"/> (410: too old resource version).</summary>
    public sealed record ErrorEvent(int Code) : Fault;

    /// <summary>A watch sends <paramref name="AfterEvents"/> whole events, then half of the next one, then drops the connection.</summary>
    public sealed record DropMidEvent(int AfterEvents) : Fault;
}

/// <summary>A request as the fake server saw it.</summary>
public sealed record RecordedRequest(string Resource, ApiVerb Verb, IReadOnlyDictionary<string, string> Query, string? Authorization, string? ClientCertificateSubject, int Status);
