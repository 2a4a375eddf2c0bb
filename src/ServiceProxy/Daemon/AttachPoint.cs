namespace ProxyReplacement.ServiceProxy.Daemon;

/// <summary>Where our TC programs sit on an interface: fixed so that cleanup finds exactly ours.</summary>
public static class AttachPoint
{
    /// <summary>tc filter priority (lower runs first).</summary>
    public const uint Priority = 1;

    /// <summary>tc filter handle: 0x5052, "PR".</summary>
    public const uint Handle = 0x5052;
}
