using ProxyReplacement.ServiceProxy.Kubernetes.Api;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Watching;

/// <summary>Where a <see cref="Reflector{T}"/> delivers what it learns. Calls come from the reflector's task, one at a time.</summary>
public interface IReflectorSink<T> where T : class
{
    /// <summary>A complete list: these objects are all there is (a first list or a relist).</summary>
    void Replace(IReadOnlyList<ApiItem<T>> items);

    /// <summary>ADDED or MODIFIED.</summary>
    void Upsert(ApiItem<T> item);

    /// <summary>DELETED (the item is the object's last state).</summary>
    void Delete(ApiItem<T> item);

    /// <summary>The API failed (<paramref name="failure"/>) or works again (null).</summary>
    void Condition(string? failure);
}
