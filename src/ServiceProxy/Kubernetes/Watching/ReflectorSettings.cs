namespace ProxyReplacement.ServiceProxy.Kubernetes.Watching;

/// <summary>How a <see cref="Reflector{T}"/> lists, watches and backs off. The defaults follow client-go.</summary>
public sealed record ReflectorSettings
{
    /// <summary>Items per list page (<c>limit</c>).</summary>
    public int PageSize { get; init; } = 500;

    /// <summary>A watch asks the server to end it after a random time in [this, 2 × this] (<c>timeoutSeconds</c>), spreading reconnects.</summary>
    public TimeSpan MinWatchTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The median delay before the first retry; each further failure doubles it (with jitter).</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(800);

    /// <summary>The cap of the exponential backoff.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest <c>Retry-After</c> honoured; a longer one is cut to this.</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromMinutes(2);
}
