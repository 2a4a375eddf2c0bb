using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Tracking;

/// <summary>
/// A pending change of one object: its state at the last commit and its newest state
/// (null = absent). Previous and Current are never equal: such a change is dropped.
/// </summary>
public sealed record ObjectChange<T>(ObjectKey Key, T? Previous, T? Current) where T : class;
