using ProxyReplacement.ServiceProxy.Tracking;

namespace ProxyReplacement.ServiceProxy.Sources;

/// <summary>
/// Where Services and EndpointSlices come from (a manifest directory now, the Kubernetes API later).
/// A source writes into the <see cref="ChangeTracker"/> and calls <c>changed</c> when it did; it never
/// touches the dataplane. Faults stay inside the source: it reports them and keeps the last good state.
/// </summary>
public interface IServiceSource
{
    /// <summary>A short description for logs, e.g. <c>manifest directory /etc/proxy</c>.</summary>
    string Description { get; }

    /// <summary>True once the source has delivered a complete first view (the daemon is ready after that).</summary>
    bool Synced { get; }

    /// <summary>Runs until cancelled.</summary>
    Task RunAsync(ChangeTracker tracker, Action changed, CancellationToken cancellationToken);
}
