using ProxyReplacement.ServiceProxy.Kubernetes.Objects;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Api;

public enum ApiFailure
{
    /// <summary>The server answered with an error status (or a watch ERROR event carried one).</summary>
    Status,

    /// <summary>No answer in time (the request timeout), or a watch that outlived its own timeout.</summary>
    Timeout,

    /// <summary>Refused, reset or dropped: the connection failed or broke mid-response.</summary>
    Connection,

    /// <summary>The answer is not what the API returns (not JSON, cut mid-object, unknown event type).</summary>
    Protocol,

    /// <summary>No credentials to send: an exec plugin failed, an auth-provider refresh was refused, the token file is unreadable.</summary>
    Credentials,
}

/// <summary>A failed API call. <see cref="Code"/> labels the request-error metric: the HTTP status, or the failure kind.</summary>
public sealed class KubernetesApiException(ApiFailure failure, string message, int? statusCode = null, StatusObject? status = null,
    TimeSpan? retryAfter = null, Exception? inner = null) : Exception(message, inner)
{
    public ApiFailure Failure { get; } = failure;
    public int? StatusCode { get; } = statusCode;
    public StatusObject? Status { get; } = status;

    /// <summary>The server's <c>Retry-After</c> (header or Status details), when it sent one.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;

    /// <summary><c>410 Gone</c>: the resourceVersion (or continue token) is too old; only a new list helps.</summary>
    public bool IsGone => StatusCode == 410;

    public string Code => StatusCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? Failure.ToString().ToLowerInvariant();
}
