using ProxyReplacement.ServiceProxy.Kubernetes.Objects;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Api;

/// <summary>
/// The two calls the proxy makes to the API server. <see cref="KubernetesApiClient"/> implements them
/// over KubernetesClient; tests can put anything behind it. Failures are
/// <see cref="KubernetesApiException"/>s; cancelling the token stops a call without one.
/// </summary>
public interface IKubernetesApi
{
    /// <summary>One page of a list (<c>limit</c>/<c>continue</c>).</summary>
    Task<ListPage<T>> ListAsync<T>(ApiResource<T> resource, ListRequest request, CancellationToken cancellationToken)
        where T : class, IKubernetesObject;

    /// <summary>Opens a watch; returns once the server accepted it (status 200), before any event.</summary>
    Task<IWatchStream<T>> WatchAsync<T>(ApiResource<T> resource, WatchRequest request, CancellationToken cancellationToken)
        where T : class, IKubernetesObject;
}

/// <summary>A list call: a label selector (null: all), the page size, and the continue token of the previous page.</summary>
public sealed record ListRequest(string? LabelSelector, int Limit, string? Continue = null);

/// <summary>A watch call from <see cref="ResourceVersion"/>, ended by the server after <see cref="TimeoutSeconds"/>, with bookmarks.</summary>
public sealed record WatchRequest(string? LabelSelector, string ResourceVersion, int TimeoutSeconds, bool AllowBookmarks = true);

/// <summary>A page of a list: the list's resourceVersion, the continue token (null on the last page) and the items.</summary>
public sealed record ListPage<T>(string ResourceVersion, string? Continue, IReadOnlyList<ApiItem<T>> Items) where T : class;

/// <summary>
/// One object of a list or watch. <see cref="Object"/> is null when the JSON did not decode
/// (<see cref="Error"/> says where and why); the identity is then read leniently, as far as it goes.
/// </summary>
public sealed record ApiItem<T>(string? Namespace, string? Name, string? ResourceVersion, T? Object, string? Error) where T : class
{
    public string Display => Namespace is null ? Name ?? "<unnamed>" : $"{Namespace}/{Name ?? "<unnamed>"}";
}

public enum WatchEventType
{
    Added,
    Modified,
    Deleted,
    Bookmark,
    Error,
}

/// <summary>A watch event: an object (ADDED, MODIFIED, DELETED, BOOKMARK) or a Status (ERROR).</summary>
public sealed record WatchEvent<T>(WatchEventType Type, ApiItem<T>? Item, StatusObject? Status) where T : class;

/// <summary>An open watch. Reading ends when the server ends the stream; a cut stream throws a <see cref="KubernetesApiException"/>.</summary>
public interface IWatchStream<T> : IAsyncDisposable where T : class
{
    IAsyncEnumerable<WatchEvent<T>> ReadAllAsync(CancellationToken cancellationToken);
}
