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

    /// <summary>
    /// The cap of the exponential backoff. client-go caps at 30 s, which is why kube-proxy takes 8.5 to 17 s to see
    /// a change after a 20 s API outage; 4 s bounds that at about 4 s after the API's return (the failures before
    /// it are fast: refused or reset connections), at the price of one request per resource every 4 s per node
    /// while the API is down. A success starts the next failure's backoff from <see cref="InitialBackoff"/> again.
    /// </summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>The longest <c>Retry-After</c> honoured; a longer one is cut to this.</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromMinutes(2);
}
